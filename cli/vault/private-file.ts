import { existsSync, readFileSync, statSync, statfsSync } from 'node:fs'
import { lstat, mkdtemp, open, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { UserError } from '../errors.js'

// Where decrypted secrets and deploy's key material may sit while they are used: a private
// directory in memory, never /tmp, which may be on disk. $XDG_RUNTIME_DIR comes first when it is
// this user's own memory file system (logind's /run/user/<uid>: mode 0700, emptied at logout);
// else /dev/shm, which every user shares. Its files are overwritten with zeros before it is
// removed, on every exit path a handler can catch. For what no handler catches (SIGKILL, a power
// cut of a machine whose /dev/shm survives, a crash), each directory names the process that made
// it, and the next `keystone secrets …` removes the directories whose process is gone
// (sweepStalePrivateDirs).
export function memoryDir(runtimeDir: string | undefined): string {
  if (runtimeDir !== undefined && runtimeDir !== '' && isPrivateMemory(runtimeDir))
    return runtimeDir
  if (existsSync('/dev/shm')) return '/dev/shm'
  throw new UserError(
    'no in-memory directory for the decrypted copy (/dev/shm, or $XDG_RUNTIME_DIR on tmpfs with mode 0700)',
    {
      hint: 'edit with `keystone secrets get … --reveal` and `keystone secrets set …` instead',
    },
  )
}

// statfs(2) magic numbers from linux/magic.h.
const TMPFS_MAGIC = 0x01021994
const RAMFS_MAGIC = 0x858458f6

// A directory on tmpfs or ramfs that only this user can enter.
function isPrivateMemory(dir: string): boolean {
  try {
    const { type } = statfsSync(dir)
    const info = statSync(dir)
    return (
      (type === TMPFS_MAGIC || type === RAMFS_MAGIC) &&
      info.isDirectory() &&
      info.uid === process.getuid?.() &&
      (info.mode & 0o077) === 0
    )
  } catch {
    return false
  }
}

const PREFIX = 'keystone-'
const OWNER = '.owner'

// The process as `<pid> <start time>`: a PID alone may be reused by another process later.
function processMark(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Field 22 (starttime) counts after the command name, which is in parentheses and may hold
    // spaces.
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
    return `${pid} ${start}`
  } catch {
    return undefined
  }
}

// A new private directory (mode 0700) in memory, marked with this process.
export async function makePrivateDir(
  runtimeDir: string | undefined,
  name: string,
): Promise<string> {
  const dir = await mkdtemp(path.join(memoryDir(runtimeDir), `${PREFIX}${name}`))
  await writeFile(path.join(dir, OWNER), `${processMark(process.pid) ?? process.pid}\n`, {
    mode: 0o600,
  })
  return dir
}

export async function removePrivateDir(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])
  for (const entry of entries)
    if (entry.isFile()) await wipe(path.join(entry.parentPath, entry.name))
  await rm(dir, { recursive: true, force: true })
}

export async function withPrivateFile<T>(
  content: Uint8Array,
  runtimeDir: string | undefined,
  use: (file: string) => Promise<T>,
): Promise<T> {
  const dir = await makePrivateDir(runtimeDir, '')
  const file = path.join(dir, 'secret')
  try {
    await writeFile(file, content, { mode: 0o600, flag: 'wx' })
    return await use(file)
  } finally {
    // The whole directory: an editor may have left a swap or backup copy beside the file.
    await removePrivateDir(dir)
  }
}

// Removes this user's private directories whose process has ended; returns their paths.
export async function sweepStalePrivateDirs(runtimeDir: string | undefined): Promise<string[]> {
  const removed: string[] = []
  const uid = process.getuid?.()
  for (const base of new Set(['/dev/shm', runtimeDir])) {
    if (base === undefined || base === '') continue
    const names = await readdir(base).catch(() => [])
    for (const name of names) {
      if (!name.startsWith(PREFIX)) continue
      const dir = path.join(base, name)
      // lstat: a symlink someone else planted is not followed, nor is it ours.
      const info = await lstat(dir).catch(() => undefined)
      if (info === undefined || !info.isDirectory() || (uid !== undefined && info.uid !== uid))
        continue
      const mark = await readFile(path.join(dir, OWNER), 'utf8').then(
        (text) => text.trim(),
        () => undefined,
      )
      // Without a mark the directory is not Keystone's to judge (or its mark is being written:
      // it is made just after the directory, before any secret goes in).
      if (mark === undefined || processMark(Number(mark.split(' ')[0])) === mark) continue
      await removePrivateDir(dir)
      removed.push(dir)
    }
  }
  return removed
}

export async function wipe(file: string): Promise<void> {
  try {
    const { size } = await stat(file)
    const handle = await open(file, 'r+')
    try {
      await handle.write(Buffer.alloc(size), 0, size, 0)
      await handle.sync()
    } finally {
      await handle.close()
    }
  } catch {
    // Already gone (an editor may replace the file by renaming); rm removes the rest.
  }
}

export const readPrivateFile = (file: string) => readFile(file)
