import { lstatSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs'
import path from 'node:path'

// One walk over the trees to back up, in path order. Only metadata is read here; a file's
// content is read later, and only if the file index says it changed.
export interface ScannedFile {
  type: 'file'
  path: string // absolute
  stat: BigIntStats
}

export type Scanned =
  | ScannedFile
  | { type: 'dir'; path: string; stat: BigIntStats }
  | { type: 'symlink'; path: string; stat: BigIntStats; target: string }

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
    if (stat.isFile()) entries.push({ type: 'file', path: file, stat })
    else if (stat.isSymbolicLink())
      entries.push({ type: 'symlink', path: file, stat, target: readlinkSync(file) })
    else if (stat.isDirectory()) {
      entries.push({ type: 'dir', path: file, stat })
      let names: string[]
      try {
        names = readdirSync(file)
      } catch (error) {
        skipped.push(
          `${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        )
        return
      }
      for (const name of names.sort()) visit(path.join(file, name))
    } else skipped.push(`${file}: not a regular file, directory or symlink`)
  }
  for (const root of [...new Set(roots.map((r) => path.resolve(r)))].sort()) visit(root)
  return { entries, skipped }
}

// The path a manifest stores: absolute, without the leading slash.
export const manifestPath = (absolute: string) => absolute.replace(/^\/+/, '')
