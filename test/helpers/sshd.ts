import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir, userInfo } from 'node:os'
import path from 'node:path'
import { acceptsConnections, freePort } from './loopback-port.js'
import { requireAll } from './needs.js'

// A real OpenSSH server on loopback for tests (Debian: openssh-server): its own host key, a fresh
// client key in its own authorized_keys, logins as the current user (root in CI; an unprivileged
// sshd can only log in as the user it runs as).
export interface TestSshd {
  port: number
  user: string
  dir: string
  hostKeyFile: string
  // The host key's public line, `ssh-ed25519 AAAA… comment`; changes with `restart`.
  readonly hostKeyLine: string
  clientKeyFile: string
  clientPublicKey: string
  // Stops and starts on the same port, e.g. with the host key of the system "rebooted" into.
  restart(options?: { hostKeyFile?: string }): Promise<void>
  // Stops the server but keeps its keys: the machine is down.
  shutdown(): Promise<void>
  stop(): Promise<void>
}

const SSHD = '/usr/sbin/sshd'

// Like needs(): the skip reason on a machine without OpenSSH; under KEYSTONE_REQUIRE_ALL=1, fails.
export function needsSshd(): false | string {
  const missing = [SSHD, '/usr/bin/ssh-keygen'].find((file) => !existsSync(file))
  if (missing === undefined) return false
  if (requireAll()) throw new Error(`KEYSTONE_REQUIRE_ALL=1 but ${missing} is not installed`)
  return `skipped: ${missing} is not installed (Debian: openssh-server)`
}

const keygen = (file: string, comment: string) =>
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file])

// sshd_config(5) SetEnv takes double-quoted words; a value cannot contain a quote or a newline.
function setEnvWord(name: string, value: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || /["\n\r\\]/.test(value))
    throw new Error(`startSshd: cannot pass ${name}=${JSON.stringify(value)} through SetEnv`)
  return `"${name}=${value}"`
}

export async function startSshd(
  options: {
    hostKeyFile?: string
    // More host keys beside the ed25519 one, as a real machine has (e.g. an RSA key).
    extraHostKeyFiles?: string[]
    // Directories searched first for the commands sessions run (fake tools).
    pathPrepend?: string[]
    // Extra environment for sessions.
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
  // sshd's privilege separation directory, which Debian's unit file creates; only root needs it.
  if (process.getuid?.() === 0 && !existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 })
  // bash sources ~/.bashrc for commands sshd starts, and a developer's ~/.bashrc may put pyenv,
  // cargo or a Nix profile in front of PATH: sessions get an empty home of their own instead.
  const home = path.join(dir, 'home')
  await mkdir(home, { mode: 0o700 })

  const hostKeyFile = path.join(dir, 'host_key')
  const useHostKey = async (source?: string) => {
    if (source === undefined || path.resolve(source) !== hostKeyFile) {
      await rm(hostKeyFile, { force: true })
      await rm(`${hostKeyFile}.pub`, { force: true })
      if (source === undefined) keygen(hostKeyFile, 'keystone-test-host')
      else {
        await copyFile(source, hostKeyFile)
        // sshd refuses a private host key that others can read.
        await chmod(hostKeyFile, 0o600)
      }
    }
    return execFileSync('ssh-keygen', ['-y', '-f', hostKeyFile], { encoding: 'utf8' }).trim()
  }
  let hostKeyLine = await useHostKey(options.hostKeyFile)
  const extraHostKeys = (options.extraHostKeyFiles ?? []).map((_, i) =>
    path.join(dir, `extra_host_key_${i}`),
  )
  for (const [i, file] of extraHostKeys.entries()) {
    await copyFile(options.extraHostKeyFiles![i]!, file)
    await chmod(file, 0o600)
  }

  // sshd(8) sets PATH (for root: /usr/local/sbin:…:/bin) before applying SetEnv, so this wins.
  const pathValue = [
    ...(options.pathPrepend ?? []),
    ...['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'],
  ].join(':')
  const setEnv = Object.entries({ HOME: home, PATH: pathValue, ...options.env })
  const config = path.join(dir, 'sshd_config')
  const pidFile = path.join(dir, 'sshd.pid')
  const writeConfig = (port: number) =>
    writeFile(
      config,
      [
        'ListenAddress 127.0.0.1',
        `Port ${port}`,
        `HostKey ${hostKeyFile}`,
        ...extraHostKeys.map((file) => `HostKey ${file}`),
        `PidFile ${pidFile}`,
        `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
        // The temp dir's owner and modes are not what sshd expects of a home directory.
        'StrictModes no',
        'UsePAM no',
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'LogLevel ERROR',
        `SetEnv ${setEnv.map(([name, value]) => setEnvWord(name, value)).join(' ')}`,
        '',
      ].join('\n'),
    )

  let child: ChildProcess | undefined
  const start = async (port: number) => {
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
    const running = spawn(file!, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    child = running
    let stderr = ''
    running.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const exited = new Promise<void>((resolve) => running.once('close', () => resolve()))
    let gone = false
    void exited.then(() => (gone = true))
    for (const deadline = Date.now() + 10_000; Date.now() < deadline && !gone;) {
      if (await acceptsConnections(port)) return
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    if (!gone) running.kill('SIGKILL')
    await exited
    child = undefined
    throw new Error(`sshd did not start on 127.0.0.1:${port}: ${stderr.trim() || 'no output'}`)
  }
  const halt = async () => {
    const running = child
    child = undefined
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return
    const gone = new Promise((resolve) => running.once('exit', resolve))
    // Under strace the child is strace: stop the server itself, which strace then follows out.
    const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim())
    if (pid > 0) process.kill(pid, 'SIGTERM')
    else running.kill('SIGTERM')
    await gone
    await rm(pidFile, { force: true })
  }

  // Another process may take the free port before sshd binds it: try a few.
  let port = 0
  for (let attempt = 1; port === 0; attempt++) {
    const candidate = await freePort()
    await writeConfig(candidate)
    try {
      await start(candidate)
      port = candidate
    } catch (error) {
      if (attempt === 3 || !/Address already in use/.test(String(error))) {
        await rm(dir, { recursive: true, force: true })
        throw error
      }
    }
  }

  return {
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
      await start(port)
    },
    shutdown: halt,
    stop: async () => {
      await halt()
      await rm(dir, { recursive: true, force: true })
    },
  }
}
