import { readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { isMap, isScalar, isSeq, parseDocument, type Document } from 'yaml'
import { HostFileError } from '../errors.js'
import { writeFileAtomic } from '../fs/write-file-atomic.js'
import { diskPaths } from './disks.js'
import { loadHostSource } from './load-host.js'

// What `keystone deploy` learns and later runs must see again, written into the host file: the
// SSH host keys it installed, the agent's signing key, each disk's size and serial. The YAML
// document is edited in place, so that the admin's comments, order and layout stay.

export interface PinnedDiskFacts {
  path: string
  sizeBytes: number
  serial: string
}

export interface HostFacts {
  sshHostKey?: string
  initrdHostKey?: string
  agentKey?: string
  disks?: PinnedDiskFacts[]
}

// `ssh-ed25519 AAAA… root@installer` → `ssh-ed25519 AAAA…`: the comment names where it was made.
const keyOnly = (line: string) => line.trim().split(/\s+/).slice(0, 2).join(' ')

function setIn(doc: Document, keys: string[], value: unknown): void {
  // `remoteUnlock:` or `sync:` may be absent, or written as `null`.
  if (!isMap(doc.getIn(keys.slice(0, -1)))) doc.setIn(keys.slice(0, -1), doc.createNode({}))
  doc.setIn(keys, value)
}

// A disk without a serial (some virtual disks) or size is pinned by what it has.
function pinnedValues(disk: PinnedDiskFacts): Record<string, string | number> {
  return {
    path: disk.path,
    ...(disk.sizeBytes > 0 && { sizeBytes: disk.sizeBytes }),
    ...(disk.serial !== '' && { serial: disk.serial }),
  }
}

// `- /dev/disk/by-id/…` becomes `- path: …, sizeBytes: …, serial: …`; an entry already in that
// form is updated key by key. Entries without facts are left alone.
function pinDisks(doc: Document, disks: PinnedDiskFacts[]): void {
  const list = doc.getIn(['storage', 'disks'], true)
  if (!isSeq(list)) return
  list.items.forEach((item, i) => {
    const current = isScalar(item) ? item.value : isMap(item) ? item.get('path') : undefined
    const disk = disks.find((candidate) => candidate.path === current)
    if (disk === undefined) return
    const values = pinnedValues(disk)
    if (isMap(item)) {
      for (const key of ['sizeBytes', 'serial']) {
        if (!(key in values)) {
          item.delete(key)
          continue
        }
        // A new node, so that quotes follow the new value (`"0123"`, then `WD-…`); comments stay.
        const old = item.get(key, true)
        const node = doc.createNode(values[key])
        if (isScalar(old)) node.comment = old.comment
        item.set(key, node)
      }
      return
    }
    const node = doc.createNode(values)
    // Comments around the old line stay where they were: above the entry, after the path.
    if (isScalar(item)) {
      node.commentBefore = item.commentBefore
      node.spaceBefore = item.spaceBefore
      const path = node.get('path', true)
      if (isScalar(path)) path.comment = item.comment
    }
    list.items[i] = node
  })
}

export async function pinHostFacts(file: string, facts: HostFacts): Promise<void> {
  // Named as the fleet names it (`hosts/web1.yaml`) in messages.
  const shown = path.join(path.basename(path.dirname(file)), path.basename(file))
  const source = readFileSync(file, 'utf8')
  const before = loadHostSource(source, shown)
  if (!before.ok) throw new HostFileError(before.problems)
  // Facts about a disk the file does not list belong to another host, or the file changed since.
  const listed = diskPaths(before.loaded.host.storage)
  const strangers = (facts.disks ?? []).filter((disk) => !listed.includes(disk.path))
  if (strangers.length > 0)
    throw new HostFileError(
      strangers.map((disk) => ({
        file: shown,
        ...before.loaded.parsed.locate(['storage', 'disks']),
        path: 'storage.disks',
        message: `\`${disk.path}\` is not in storage.disks, so its facts cannot be pinned`,
        hint: 'deploy pins only the disks the host file lists; was the file changed during the deploy?',
      })),
    )

  const doc = parseDocument(source)
  if (facts.sshHostKey !== undefined) setIn(doc, ['ssh', 'hostKey'], keyOnly(facts.sshHostKey))
  if (facts.initrdHostKey !== undefined)
    setIn(doc, ['remoteUnlock', 'hostKey'], keyOnly(facts.initrdHostKey))
  if (facts.agentKey !== undefined) setIn(doc, ['sync', 'agentKey'], facts.agentKey)
  if (facts.disks !== undefined) pinDisks(doc, facts.disks)

  // No folding of long lines (SSH keys) and `[1, 7]` as people write it: untouched lines stay.
  const text = doc.toString({ lineWidth: 0, flowCollectionPadding: false })
  // Never write a host file Keystone itself would refuse.
  const after = loadHostSource(text, shown)
  if (!after.ok) throw new HostFileError(after.problems)
  await writeFileAtomic(file, text, statSync(file).mode & 0o777)
}
