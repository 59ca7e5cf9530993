import { execFile } from 'node:child_process'
import { cp, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
export const repoRoot = path.resolve(import.meta.dirname, '../..')
const mainJs = path.join(repoRoot, 'dist/cli/main.js')

// A copy of the example fleet (host files, generated Nix, schema) in a private temporary
// directory, removed when the test ends.
export async function tempFleet(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'keystone-fleet-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await cp(path.join(repoRoot, 'hosts'), path.join(dir, 'hosts'), { recursive: true })
  await cp(path.join(repoRoot, 'schema'), path.join(dir, 'schema'), { recursive: true })
  return dir
}

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

// Runs the built CLI as a user would: a separate process, its own cwd, no shell.
export async function keystone(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [mainJs, ...args], {
      cwd: options.cwd ?? repoRoot,
      env: { ...process.env, KEYSTONE_DEBUG: '', KEYSTONE_FLEET: '', ...options.env },
    })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string }
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }
  }
}
