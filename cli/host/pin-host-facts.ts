import { readFileSync } from 'node:fs'
import path from 'node:path'
import { isMap, parseDocument } from 'yaml'
import { HostFileError } from '../errors.js'
import { writeFileAtomic } from '../fs/write-file-atomic.js'
import { loadHostSource } from './load-host.js'

// What `keystone deploy` learns and later connections must see again, written into the host
// file: the SSH host keys it installed, the agent's signing key, the disks' size and serial.
// The YAML document is edited in place, so the admin's comments and order stay.

export interface HostFacts {
  sshHostKey?: string
  initrdHostKey?: string
  agentKey?: string
  disks?: { path: string; sizeBytes: number; serial: string }[]
}

// `ssh-ed25519 AAAA… comment` → `ssh-ed25519 AAAA…`: the comment names the machine that made it.
const keyOnly = (line: string) => line.trim().split(/\s+/).slice(0, 2).join(' ')

export async function pinHostFacts(file: string, facts: HostFacts): Promise<void> {
  const doc = parseDocument(readFileSync(file, 'utf8'))
  const set = (keys: string[], value: unknown) => {
    const parent = doc.getIn(keys.slice(0, -1))
    if (!isMap(parent)) doc.setIn(keys.slice(0, -1), doc.createNode({}))
    doc.setIn(keys, value)
  }
  if (facts.sshHostKey !== undefined) set(['ssh', 'hostKey'], keyOnly(facts.sshHostKey))
  if (facts.initrdHostKey !== undefined)
    set(['remoteUnlock', 'hostKey'], keyOnly(facts.initrdHostKey))
  if (facts.agentKey !== undefined) set(['sync', 'agentKey'], facts.agentKey)
  if (facts.disks !== undefined) {
    const node = doc.createNode(
      facts.disks.map((disk) => ({
        path: disk.path,
        sizeBytes: disk.sizeBytes,
        serial: disk.serial,
      })),
    )
    node.flow = false
    set(['storage', 'pinnedDisks'], node)
  }
  const text = doc.toString()
  // Never write a host file Keystone itself would refuse.
  const result = loadHostSource(text, path.basename(file))
  if (!result.ok) throw new HostFileError(result.problems)
  await writeFileAtomic(file, text)
}
