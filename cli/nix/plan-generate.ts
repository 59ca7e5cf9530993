import { existsSync } from 'node:fs'
import path from 'node:path'
import type { LoadedHost } from '../host/load-host.js'
import { SCHEMA_FILE } from '../host/schema-file.js'
import { shippedSchemaText } from '../host/shipped-schema.js'
import { renderHost, type GeneratedFile } from './render-host.js'

// Decide first (STYLE.md §4): the full list of files the fleet's generated artefacts should be,
// computed purely from the host files. `generate` writes it; `check` compares against it.
export function planGenerate(fleetRoot: string, hosts: readonly LoadedHost[]): GeneratedFile[] {
  const files: GeneratedFile[] = [{ path: SCHEMA_FILE, content: shippedSchemaText() }]
  for (const loaded of hosts) {
    const hasFacterReport = existsSync(path.join(fleetRoot, 'hosts', loaded.host.name, 'facter.json'))
    files.push(...renderHost(loaded, { hasFacterReport }))
  }
  return files
}
