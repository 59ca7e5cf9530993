import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { chmod, copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import path from 'node:path'
import { requireAll } from './needs.js'
import { acceptsConnections } from './loopback-port.js'

// A real OpenSSH server on loopback for tests (reference/OFFLINE-TOOLING.md): its own host key,
// a fresh client key in authorized_keys, logins as the current user (root in CI).
export interface TestSshd {
  port: number
  user: string
  dir: string
  hostKeyFile: string
  hostKeyLine: string
  clientKeyFile: string
  clientPublicKey: string
  restart(options?: { hostKeyFile?: string }): Promise<void>
  // Stops the server but keeps its keys: the machine is down.
  shutdown(): Promise<void>
  stop(): Promise<void>
}

const SSHD = '/usr/sbin/sshd'

export function needsSshd(): false | string {
  if (existsSync(SSHD) && existsSync('/usr/bin/ssh-keygen')) return false
  if (requireAll()) throw new Error(`KEYSTONE_REQUIRE_ALL=1 but ${SSHD} is not installed`)
  return `skipped: ${SSHD} is not installed (Debian: openssh-server)`
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

const keygen = (file: string, comment: string) =>
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file])

export async function startSshd(
  options: {
    hostKeyFile?: string
    pathPrepend?: string[]
    env?: Record<string, string>
    // Run the server under `strace -f`, appending every program's argv and environment here.
    traceFile?: string
  } = {},
): Promise<TestSshd> {
  const dir = await mkdtemp(path.join(tmpdir(), 'keystone-sshd-'))
  const user = userInfo().username
  const clientKeyFile = path.join(dir, 'client_key')
  keygen(clientKeyFile, 'keystone-test-client')
  const clientPublicKey = (await readFile(`${clientKeyFile}.pub`, 'utf8')).trim()
  await writeFile(path.join(dir, 'authorized_keys'), clientPublicKey + '\n', { mode: 0o600 })
  // sshd's privilege separation directory (Debian creates it in its unit file).
  if (process.getuid?.() === 0 && !existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 })

  const hostKeyFile = path.join(dir, 'host_key')
  const useHostKey = async (source?: string) => {
    await rm(hostKeyFile, { force: true })
    await rm(`${hostKeyFile}.pub`, { force: true })
    if (source === undefined) keygen(hostKeyFile, 'keystone-test-host')
    else {
      await copyFile(source, hostKeyFile)
      await chmod(hostKeyFile, 0o600)
    }
    return execFileSync('ssh-keygen', ['-y', '-f', hostKeyFile], { encoding: 'utf8' }).trim()
  }
  let hostKeyLine = await useHostKey(options.hostKeyFile)
  const port = await freePort()
  const pathValue = [
    ...(options.pathPrepend ?? []),
    '/usr/local/sbin',
    '/usr/local/bin',
    '/usr/sbin',
    '/usr/bin',
    '/sbin',
    '/bin',
  ].join(':')
  // sshd_config(5): SetEnv applies to every session, after sshd's own default PATH.
  const setEnv = [
    `PATH=${pathValue}`,
    ...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`),
  ]
  const config = path.join(dir, 'sshd_config')
  await writeFile(
    config,
    [
      `ListenAddress 127.0.0.1`,
      `Port ${port}`,
      `HostKey ${hostKeyFile}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      'StrictModes no',
      'UsePAM no',
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'LogLevel ERROR',
      `SetEnv ${setEnv.map((pair) => `"${pair}"`).join(' ')}`,
      '',
    ].join('\n'),
  )

  let child: ChildProcess | undefined
  const start = async () => {
    const server = [SSHD, '-D', '-e', '-f', config]
    const [file, ...args] =
      options.traceFile === undefined
        ? server
        : [
            'strace',
            '-f',
            '-A',
            '-v',
            '-s',
            '65536',
            '-e',
            'trace=execve',
            '-o',
            options.traceFile,
            ...server,
          ]
    child = spawn(file!, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    let exited = false
    child.once('exit', () => (exited = true))
    for (let i = 0; i < 100 && !exited; i++) {
      if (await acceptsConnections(port)) return
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error(`sshd did not start on port ${port}: ${stderr}`)
  }
  const halt = async () => {
    const running = child
    child = undefined
    if (running === undefined || running.exitCode !== null) return
    const gone = new Promise((resolve) => running.once('exit', resolve))
    // Under strace the child is strace: stop the server itself, which strace then follows out.
    const pid = Number((await readFile(path.join(dir, 'sshd.pid'), 'utf8').catch(() => '')).trim())
    if (pid > 0) process.kill(pid, 'SIGTERM')
    else running.kill('SIGTERM')
    await gone
    await rm(path.join(dir, 'sshd.pid'), { force: true })
  }
  await start()
  const sshd: TestSshd = {
    port,
    user,
    dir,
    hostKeyFile,
    get hostKeyLine() {
      return hostKeyLine
    },
    clientKeyFile,
    clientPublicKey,
    restart: async (restartOptions = {}) => {
      await halt()
      if (restartOptions.hostKeyFile !== undefined)
        hostKeyLine = await useHostKey(restartOptions.hostKeyFile)
      await start()
    },
    shutdown: halt,
    stop: async () => {
      await halt()
      await rm(dir, { recursive: true, force: true })
    },
  }
  return sshd
}
