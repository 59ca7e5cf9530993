import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { SCHEMA_FILE } from './schema-file.js'

// Commands read the JSON Schema that ships in the package (schema/host.schema.json, rendered from
// host-schema.ts by `npm run schema`, kept identical by test/host/shipped-schema.test.ts) instead
// of building it with TypeBox at run time: TypeBox's ~200 modules take ~70 ms to load, paid by
// every `check` and `generate`.

// The package root: the nearest directory with a package.json above this module, in cli/ (tests)
// as in dist/cli/chunks/ (the bundled CLI).
export function packageRoot(): string {
  let dir = import.meta.dirname
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir)
    if (parent === dir) throw new Error(`no package.json above ${import.meta.dirname}`)
    dir = parent
  }
  return dir
}

let text: string | undefined

export function shippedSchemaText(): string {
  text ??= readFileSync(path.join(packageRoot(), SCHEMA_FILE), 'utf8')
  return text
}
