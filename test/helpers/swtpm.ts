import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { acceptsConnections } from './loopback-port.js'

// A real software TPM 2.0 on loopback TCP, for tests (reference/OFFLINE-TOOLING.md): tpm2-tools
// and systemd reach it through the `swtpm:` TCTI, whose control port is the data port + 1.
export interface Swtpm {
  tcti: string
  stop: () => Promise<void>
}

export async function startSwtpm(): Promise<Swtpm> {
  const state = await mkdtemp(path.join(tmpdir(), 'keystone-swtpm-'))
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = 20000 + 2 * Math.floor(Math.random() * 15000)
    if ((await acceptsConnections(port)) || (await acceptsConnections(port + 1))) continue
    const child: ChildProcess = spawn(
      'swtpm',
      [
        'socket',
        '--tpm2',
        '--server',
        `type=tcp,port=${port},bindaddr=127.0.0.1`,
        '--ctrl',
        `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
        '--tpmstate',
        `dir=${state}`,
        '--flags',
        'not-need-init,startup-clear',
      ],
      { stdio: 'ignore' },
    )
    let exited = false
    child.once('exit', () => (exited = true))
    for (let wait = 0; wait < 50 && !exited; wait++) {
      if (await acceptsConnections(port)) {
        return {
          tcti: `swtpm:host=127.0.0.1,port=${port}`,
          stop: async () => {
            if (!exited) {
              const gone = new Promise((resolve) => child.once('exit', resolve))
              child.kill()
              await gone
            }
            await rm(state, { recursive: true, force: true })
          },
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    if (!exited) child.kill()
  }
  await rm(state, { recursive: true, force: true })
  throw new Error('swtpm did not start on a free loopback port')
}
