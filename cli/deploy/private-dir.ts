import { runtimeDir } from '../config.js'
import { makePrivateDir, removePrivateDir } from '../vault/private-file.js'

// The deploy's key material lives in one private directory in memory (/dev/shm, else
// $XDG_RUNTIME_DIR; never /tmp, which may be on disk), mode 0700. It is wiped and removed on
// every exit path: success, failure, and Ctrl-C (which `withInterrupt` turns into a rejection,
// so this `finally` runs); after a SIGKILL, by the next `keystone secrets …`.
export async function withPrivateDir<T>(use: (dir: string) => Promise<T>): Promise<T> {
  const dir = await makePrivateDir(runtimeDir(), 'deploy-')
  try {
    return await use(dir)
  } finally {
    await removePrivateDir(dir)
  }
}
