import { readFileSync, existsSync } from 'node:fs'
import path from 'node:path'
import { parseDocument, isMap } from 'yaml'
import { UserError } from '../errors.js'
import { writeFileAtomic } from '../fs/write-file-atomic.js'
import { AGE_RECIPIENT } from './age.js'

// secrets/recipients.yaml: who may read what. Admins read every secret; a host reads the fleet's
// secrets and its own (secrets/<host>/…). Public keys only, so the file is plain YAML in git.
export const RECIPIENTS_FILE = 'secrets/recipients.yaml'
const NAME = /^[a-z][a-z0-9-]*$/

export interface Recipients {
  admins: Record<string, string>
  hosts: Record<string, string>
}

const HEADER = `# Who can read the fleet's secrets (age public keys). Admins read every secret; a host reads
# secrets/fleet/* and secrets/<host>/*. After a change, run \`keystone secrets rekey\`.
`

export function recipientsPath(fleetRoot: string): string {
  return path.join(fleetRoot, RECIPIENTS_FILE)
}

export function loadRecipients(fleetRoot: string): Recipients {
  const file = recipientsPath(fleetRoot)
  if (!existsSync(file)) {
    throw new UserError(`${RECIPIENTS_FILE} does not exist`, {
      hint: 'run `keystone secrets init` first',
    })
  }
  const doc = parseDocument(readFileSync(file, 'utf8'))
  if (doc.errors.length > 0)
    throw new UserError(`${RECIPIENTS_FILE}: ${doc.errors[0]!.message.split('\n')[0]}`)
  const data = (doc.toJS() ?? {}) as Record<string, unknown>
  const section = (key: 'admins' | 'hosts'): Record<string, string> => {
    const value = data[key] ?? {}
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new UserError(`${RECIPIENTS_FILE}: ${key}: expected a map of name: age1… public key`)
    }
    for (const [name, recipient] of Object.entries(value)) {
      if (!NAME.test(name))
        throw new UserError(`${RECIPIENTS_FILE}: ${key}.${name}: expected a lower-case name`)
      if (typeof recipient !== 'string' || !AGE_RECIPIENT.test(recipient)) {
        throw new UserError(
          `${RECIPIENTS_FILE}: ${key}.${name}: expected an age1… public key, got \`${String(recipient)}\``,
          {
            hint: 'copy the line `age-keygen -y` or `keystone secrets init` printed',
          },
        )
      }
    }
    return value as Record<string, string>
  }
  return { admins: section('admins'), hosts: section('hosts') }
}

// Writes the file, keeping the comments an admin added.
export async function saveRecipients(fleetRoot: string, recipients: Recipients): Promise<void> {
  const file = recipientsPath(fleetRoot)
  const doc = existsSync(file)
    ? parseDocument(readFileSync(file, 'utf8'))
    : parseDocument(HEADER + 'admins: {}\nhosts: {}\n')
  for (const key of ['admins', 'hosts'] as const) {
    const sorted = Object.fromEntries(
      Object.entries(recipients[key]).sort(([a], [b]) => a.localeCompare(b)),
    )
    const node = doc.createNode(sorted)
    if (isMap(node) && node.items.length > 0) node.flow = false
    doc.set(key, node)
  }
  await writeFileAtomic(file, doc.toString())
}

// Readers of a scope, as name → public key, admins first.
export function readersOf(recipients: Recipients, scope: string): Record<string, string> {
  const readers: Record<string, string> = {}
  for (const [name, key] of Object.entries(recipients.admins)) readers[`admin:${name}`] = key
  for (const [name, key] of Object.entries(recipients.hosts)) {
    if (scope === 'fleet' || scope === name) readers[`host:${name}`] = key
  }
  return readers
}
