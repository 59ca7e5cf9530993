import { lstatSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs'
import path from 'node:path'

// One walk over the trees to back up, in path order. Only metadata is read here; a file's
// content is read later, and only if the file index says it changed.
export interface ScannedFile {
  type: 'file'
  path: string // absolute
  stat: Metadata
}

export type Scanned =
  | ScannedFile
  | { type: 'dir'; path: string; stat: Metadata }
  | { type: 'symlink'; path: string; stat: Metadata; target: string }

// What a pass keeps of an lstat: the file index's key and the manifest's fields. Keeping these
// rather than Node's whole stat object (18 fields, dates) leaves the collector less to move.
export interface Metadata {
  mode: number
  uid: number
  gid: number
  size: number
  mtimeNs: bigint
  ctimeNs: bigint
  ino: bigint
}

const metadata = (s: BigIntStats): Metadata => ({
  mode: Number(s.mode),
  uid: Number(s.uid),
  gid: Number(s.gid),
  size: Number(s.size),
  mtimeNs: s.mtimeNs,
  ctimeNs: s.ctimeNs,
  ino: s.ino,
})

export interface ScanResult {
  entries: Scanned[]
  // What could not be backed up, one line each (unreadable directories, sockets, devices).
  skipped: string[]
}

export function scan(roots: readonly string[]): ScanResult {
  const entries: Scanned[] = []
  const skipped: string[] = []
  const visit = (file: string): void => {
    let stat: BigIntStats
    try {
      stat = lstatSync(file, { bigint: true })
    } catch (error) {
      skipped.push(`${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
      return
    }
    if (stat.isFile()) entries.push({ type: 'file', path: file, stat: metadata(stat) })
    else if (stat.isSymbolicLink())
      entries.push({
        type: 'symlink',
        path: file,
        stat: metadata(stat),
        target: readlinkSync(file),
      })
    else if (stat.isDirectory()) {
      entries.push({ type: 'dir', path: file, stat: metadata(stat) })
      let names: string[]
      try {
        names = readdirSync(file)
      } catch (error) {
        skipped.push(
          `${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        )
        return
      }
      // Not path.join: `file` is already normal, and joining 20,000 names shows in a profile.
      const prefix = file.endsWith('/') ? file : file + '/'
      for (const name of names.sort()) visit(prefix + name)
    } else skipped.push(`${file}: not a regular file, directory or symlink`)
  }
  for (const root of [...new Set(roots.map((r) => path.resolve(r)))].sort()) visit(root)
  return { entries, skipped }
}

// The path a manifest stores: absolute, without the leading slash.
export const manifestPath = (absolute: string) =>
  absolute.charCodeAt(0) === 0x2f && absolute.charCodeAt(1) !== 0x2f
    ? absolute.slice(1)
    : absolute.replace(/^\/+/, '')
