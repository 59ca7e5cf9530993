import { randomBytes } from 'node:crypto'
import { promises as fs } from 'node:fs'
import path from 'node:path'

// Writes that survive a power cut: data fsynced under a temporary name, then renamed (or
// linked) into place, then the directory fsynced so the new name itself is on disk.

// Writes `data` to a new temporary file beside `file`, fsynced; returns its name.
export async function writeTempSynced(file: string, data: Uint8Array): Promise<string> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 })
  const temp = `${file}.tmp-${randomBytes(6).toString('hex')}`
  const handle = await fs.open(temp, 'wx', 0o600)
  try {
    await handle.writeFile(data)
    await handle.sync()
  } finally {
    await handle.close()
  }
  return temp
}

export async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

export async function writeFileDurable(file: string, data: Uint8Array): Promise<void> {
  const temp = await writeTempSynced(file, data)
  await fs.rename(temp, file)
  await syncDir(path.dirname(file))
}
