import { existsSync } from 'node:fs'
import { mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { UserError } from '../errors.js'

// Where a decrypted secret may sit while an editor has it: a private directory in memory
// (/dev/shm, or $XDG_RUNTIME_DIR), never /tmp, which may be on disk. The file is overwritten with
// zeros before it is removed, on every exit path.
export function memoryDir(runtimeDir: string | undefined): string {
  for (const dir of ['/dev/shm', runtimeDir])
    if (dir !== undefined && dir !== '' && existsSync(dir)) return dir
  throw new UserError(
    'no in-memory directory for the decrypted copy (/dev/shm or $XDG_RUNTIME_DIR)',
    {
      hint: 'edit with `keystone secrets get … --reveal` and `keystone secrets set …` instead',
    },
  )
}

export async function withPrivateFile<T>(
  content: Uint8Array,
  runtimeDir: string | undefined,
  use: (file: string) => Promise<T>,
): Promise<T> {
  const dir = await mkdtemp(path.join(memoryDir(runtimeDir), 'keystone-'))
  const file = path.join(dir, 'secret')
  try {
    await writeFile(file, content, { mode: 0o600, flag: 'wx' })
    return await use(file)
  } finally {
    await wipe(file)
    await rm(dir, { recursive: true, force: true })
  }
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
    // Already gone (an editor may replace the file by renaming); rm below removes the rest.
  }
}

export const readPrivateFile = (file: string) => readFile(file)
