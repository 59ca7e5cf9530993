import { readdir } from 'node:fs/promises'
import path from 'node:path'
import { checkProvenance } from './generated-file.js'
import type { GeneratedFile } from './render-host.js'
import { readIfExists } from '../fs/read-if-exists.js'

export interface GeneratedProblem {
  path: string
  kind: 'missing' | 'stale' | 'hand-edited' | 'not-generated' | 'orphaned'
  message: string
  hint: string
}

function regenerateCommand(file: string): string {
  const host = /^hosts\/([^/]+)\//.exec(file)?.[1]
  return host === undefined ? 'keystone generate --all' : `keystone generate ${host}`
}

// Compares the generated files on disk with what the host files say they should be.
export async function checkGenerated(fleetRoot: string, expected: readonly GeneratedFile[]): Promise<GeneratedProblem[]> {
  const problems: GeneratedProblem[] = []
  for (const file of expected) {
    const actual = readIfExists(path.join(fleetRoot, file.path))
    if (actual === file.content) continue
    const command = regenerateCommand(file.path)
    if (actual === undefined) {
      problems.push({ path: file.path, kind: 'missing', message: `${file.path} is missing`, hint: `run \`${command}\`` })
      continue
    }
    const provenance = file.path.endsWith('.nix') ? checkProvenance(actual) : 'intact'
    if (provenance === 'hand-edited') {
      problems.push({
        path: file.path,
        kind: 'hand-edited',
        message: `${file.path} was edited by hand`,
        hint: `put the change in the host file instead, then run \`${command}\` (it overwrites the edit)`,
      })
    } else if (provenance === 'not-generated') {
      problems.push({
        path: file.path,
        kind: 'not-generated',
        message: `${file.path} was not written by keystone`,
        hint: `move it aside, then run \`${command}\``,
      })
    } else {
      problems.push({
        path: file.path,
        kind: 'stale',
        message: `${file.path} is stale: its source changed since it was generated`,
        hint: `run \`${command}\``,
      })
    }
  }
  problems.push(...(await findOrphans(fleetRoot, expected)))
  return problems
}

// A host directory whose host file is gone would still be built by the flake.
async function findOrphans(fleetRoot: string, expected: readonly GeneratedFile[]): Promise<GeneratedProblem[]> {
  const known = new Set(expected.map((f) => f.path.split('/')[1]))
  let entries: import('node:fs').Dirent[]
  try {
    entries = await readdir(path.join(fleetRoot, 'hosts'), { withFileTypes: true })
  } catch {
    return []
  }
  const problems: GeneratedProblem[] = []
  for (const entry of entries) {
    if (!entry.isDirectory() || known.has(entry.name)) continue
    const defaultNix = readIfExists(path.join(fleetRoot, 'hosts', entry.name, 'default.nix'))
    if (defaultNix !== undefined && checkProvenance(defaultNix) !== 'not-generated') {
      problems.push({
        path: `hosts/${entry.name}/`,
        kind: 'orphaned',
        message: `hosts/${entry.name}/ was generated for a host that has no host file`,
        hint: `restore hosts/${entry.name}.yaml, or remove hosts/${entry.name}/`,
      })
    }
  }
  return problems
}
