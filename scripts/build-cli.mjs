#!/usr/bin/env node
// Builds dist/ from cli/: one ESM bundle per entry point, with code shared between them split into
// dist/cli/chunks/. Bundling is for start-up time: Node resolves and compiles ~150 small modules
// of yargs and its helpers one by one otherwise, which costs `keystone --help` ~40 ms
// (bench/cli-startup.mjs). Each command's handler stays a separate chunk behind a dynamic
// import(), so `--help` never loads ajv, yaml or the Nix emitter. Type checking is tsc's job
// (`npm run typecheck`); esbuild only strips the types.
import { readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { build } from 'esbuild'

const root = path.dirname(import.meta.dirname)
const outdir = path.join(root, 'dist/cli')
const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'))

rmSync(path.join(root, 'dist'), { recursive: true, force: true })
await build({
  absWorkingDir: root,
  entryPoints: [
    'cli/main.ts',
    'cli/host/write-schema.ts',
    'cli/agent/workers/chunk-worker.ts',
    'cli/agent/workers/restore-worker.ts',
  ],
  outbase: 'cli',
  outdir,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // ajv and some of yargs' helpers are CommonJS and call require(); an ES module has none.
  banner: {
    js: "import { createRequire as keystoneCreateRequire } from 'node:module'; const require = keystoneCreateRequire(import.meta.url);",
  },
  // ssh2 loads optional native add-ons with require() inside try/catch; bundled, esbuild would
  // resolve them at build time. It stays a runtime dependency, loaded only by the SSH commands.
  // better-sqlite3 loads its native add-on the same way.
  external: ['ssh2', 'better-sqlite3'],
  // The version a host's agent reports in its heartbeats (cli/version.ts).
  define: { KEYSTONE_VERSION: JSON.stringify(version) },
  logLevel: 'warning',
})
