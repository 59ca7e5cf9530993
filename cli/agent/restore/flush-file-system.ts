import { execFileSync } from 'node:child_process'

// Restored files get their real names only once their data is on disk, so that a crash never
// leaves a real name pointing at data that was not written. One syncfs(2) of the target's file
// system does that for every file at once: on ext4 an fsync per file costs one journal commit
// each (20,000 tiny files: 5.7 s of a 12 s restore), one syncfs costs one (0.25 s). Node has no
// syncfs, so it is coreutils' `sync -f`, which every NixOS service has on its PATH.
//
// Returns false when `sync -f` cannot run (no coreutils, or one too old for -f): the caller then
// flushes file by file.
export function syncFileSystem(directory: string): boolean {
  try {
    execFileSync('sync', ['-f', directory], { stdio: 'ignore', timeout: 10 * 60 * 1000 })
    return true
  } catch {
    return false
  }
}
