import { mkdtemp, readdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { runtimeDir } from '../config.js'
import { memoryDir, wipe } from '../vault/private-file.js'

// The deploy's key material lives in one private directory in memory (/dev/shm, else
// $XDG_RUNTIME_DIR; never /tmp, which may be on disk), mode 0700. It is wiped and removed on
// every exit path: success, failure, and Ctrl-C (which `withInterrupt` turns into a rejection,
// so this `finally` runs).
export async function withPrivateDir<T>(use: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(memoryDir(runtimeDir()), 'keystone-deploy-'))
  try {
    return await use(dir)
  } finally {
    await wipeTree(dir)
    await rm(dir, { recursive: true, force: true })
  }
}

async function wipeTree(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])
  for (const entry of entries)
    if (entry.isFile()) await wipe(path.join(entry.parentPath, entry.name))
}
