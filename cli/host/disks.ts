import type { Host } from './host-schema.js'

// A `storage.disks` entry is a by-id path, or that path with the size and serial `keystone deploy`
// pinned (host-schema.ts). Everything that only needs the disk goes through these, so that the
// generated Nix does not depend on which form the host file uses.

export type DiskEntry = Host['storage']['disks'][number]

export interface PinnedFacts {
  sizeBytes: number | null
  serial: string | null
}

export const diskPath = (entry: DiskEntry): string =>
  typeof entry === 'string' ? entry : entry.path

export const diskPaths = (storage: Pick<Host['storage'], 'disks'>): string[] =>
  storage.disks.map(diskPath)

// The facts a later deploy compares; none for a disk listed by its path only.
export const pinnedFacts = (entry: DiskEntry): PinnedFacts =>
  typeof entry === 'string'
    ? { sizeBytes: null, serial: null }
    : { sizeBytes: entry.sizeBytes, serial: entry.serial }
