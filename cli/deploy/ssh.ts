import { readFileSync } from 'node:fs'
import { constants } from 'node:os'
import ssh2, { type Client, type ClientChannel, type ConnectConfig } from 'ssh2'
import { UserError } from '../errors.js'
import { seconds } from '../ui/phase-progress.js'
import {
  checkHostKey,
  parseFingerprint,
  parsePublicKeyLine,
  pinnedKeyMissing,
  publicKeyOfBlob,
  type HostKeyPolicy,
  type PublicKey,
} from './host-key.js'
import type { RemoteResult, RemoteShell, RunOptions } from './remote-shell.js'

// The one door to ssh2 (STYLE.md §5). Every connection verifies the target's host key against the
// host file's pin, or against a fingerprint the admin accepted explicitly; every failure is one
// line that says what to do.
// Over 300 lines: one session type, with its connect, run, upload and error paths together.

export type { HostKeyPolicy } from './host-key.js'

export interface SshTarget {
  // The host's name, for messages.
  name: string
  address: string
  port: number
  user: string
}

export interface SshAuth {
  identityFile?: string
  agentSocket?: string
}

export interface SshSession extends RemoteShell {
  hostKey: PublicKey
  close(): Promise<void>
}

type Ssh2Error = Error & { level?: string; code?: string }

// A host that does not answer (yet): worth waiting for after a reboot, unlike a refusal.
class UnreachableError extends UserError {
  constructor(
    target: SshTarget,
    hostFile: string,
    readonly reason: string,
  ) {
    super(`cannot reach ${target.name} at ${target.address}:${target.port}: ${reason}`, {
      hint: `check that the machine is up and that ssh.address and ssh.port in ${hostFile} are right`,
    })
  }
}

// RFC 8332: an ssh-rsa key is presented with a SHA-2 signature; the SHA-1 `ssh-rsa` algorithm
// is left out, as OpenSSH 8.8 did.
const ALGORITHMS: Record<string, string[]> = { 'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256'] }

// A connection that dies silently (a machine that reboots or loses power sends no FIN) is noticed
// after about a minute rather than at the next TCP timeout.
const KEEPALIVE = { keepaliveInterval: 15_000, keepaliveCountMax: 4 }

export async function openSsh(
  target: SshTarget,
  auth: SshAuth,
  policy: HostKeyPolicy,
  options: { readyTimeoutMs?: number } = {},
): Promise<SshSession> {
  const hostFile = policy.hostFile ?? `hosts/${target.name}.yaml`
  const pinned =
    policy.pinned === null
      ? undefined
      : parsePublicKeyLine(policy.pinned, `ssh.hostKey in ${hostFile}`)
  if (policy.accept !== undefined) parseFingerprint(policy.accept)
  const privateKey = readIdentity(auth.identityFile)
  if (privateKey === undefined && auth.agentSocket === undefined)
    throw new UserError(`no SSH key to log in to ${target.name} with`, {
      hint: 'load the admin key into ssh-agent (SSH_AUTH_SOCK), or pass --ssh-key <file>',
    })
  const readyTimeout = options.readyTimeoutMs ?? 20_000
  let presented: PublicKey | undefined
  let refusal: UserError | undefined
  let agentTrouble: string | undefined
  const config: ConnectConfig = {
    host: target.address,
    port: target.port,
    username: target.user,
    readyTimeout,
    ...KEEPALIVE,
    ...(privateKey !== undefined && { privateKey }),
    ...(auth.agentSocket !== undefined && { agent: auth.agentSocket }),
    // Offer only the pinned key's type, so that a server with several keys presents that one.
    ...(pinned !== undefined && {
      algorithms: { serverHostKey: (ALGORITHMS[pinned.type] ?? [pinned.type]) as never },
    }),
    hostVerifier: (blob: Buffer) => {
      presented = publicKeyOfBlob(blob)
      refusal = checkHostKey(target.name, presented, { ...policy, hostFile })
      return refusal === undefined
    },
  }
  const client = new ssh2.Client()
  await new Promise<void>((resolve, reject) => {
    const fail = (error: UserError) => {
      reject(error)
      client.destroy()
    }
    // ssh2 reports a failing agent as an error and goes on with the next key; other errors are
    // final. The listener stays for the connection's lifetime: once ready, `close` reports.
    client.on('error', (error: Ssh2Error) => {
      if (error.level === 'agent') agentTrouble = error.message
      else fail(refusal ?? connectError(error))
    })
    const onClose = () =>
      fail(refusal ?? new UnreachableError(target, hostFile, 'connection closed'))
    client.once('close', onClose)
    client.once('ready', () => {
      client.off('close', onClose)
      resolve()
    })
    try {
      client.connect(config)
    } catch (error) {
      // ssh2 checks the algorithms before it connects: a pin of a key type it cannot verify.
      if (pinned === undefined) return reject(error)
      fail(
        new UserError(`${hostFile} pins a ${pinned.type} host key, which Keystone cannot verify`, {
          hint: `pin the host's ssh-ed25519 key instead: the line of /etc/ssh/ssh_host_ed25519_key.pub`,
        }),
      )
    }
  })

  function connectError(error: Ssh2Error): UserError {
    if (error.level === 'client-authentication')
      return new UserError(`${target.user}@${target.address} refused our SSH keys`, {
        hint: `load the admin key into ssh-agent, or pass --ssh-key <file>; its public half must be in ${target.user}'s authorized keys on ${target.name}${agentTrouble === undefined ? '' : ` (the ssh-agent at ${auth.agentSocket} failed: ${agentTrouble})`}`,
      })
    if (pinned !== undefined && /no matching host key format/.test(error.message))
      return pinnedKeyMissing(target.name, { ...policy, pinned: pinned.line, hostFile })
    const reason = unreachableReason(error, readyTimeout)
    if (reason !== undefined) return new UnreachableError(target, hostFile, reason)
    return new UserError(
      `the SSH handshake with ${target.name} at ${target.address}:${target.port} failed: ${error.message.replace(/^Handshake failed: /, '')}`,
      {
        hint: `the server's SSH version or algorithms may be too old; try \`ssh -v -p ${target.port} ${target.user}@${target.address}\``,
      },
    )
  }

  let connected = true
  client.on('close', () => (connected = false))
  return {
    description: `${target.user}@${target.name} (${target.address}:${target.port})`,
    hostKey: presented!,
    run: (command, runOptions) => {
      if (!connected) return Promise.reject(lost(target, command))
      return execOn(client, target, command, runOptions)
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (!connected) return resolve()
        client.once('close', () => resolve())
        client.end()
        setTimeout(resolve, 2_000).unref()
      }),
  }
}

function readIdentity(file: string | undefined): Buffer | undefined {
  if (file === undefined) return undefined
  let data: Buffer
  try {
    data = readFileSync(file)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const why = {
      ENOENT: 'no such file',
      EACCES: 'permission denied',
      EISDIR: 'it is a directory',
    }[code as string]
    throw new UserError(
      `cannot read the SSH key ${file}: ${why ?? code ?? (error as Error).message}`,
      {
        hint: 'pass --ssh-key the private key file of the admin key, e.g. ~/.ssh/id_ed25519',
      },
    )
  }
  const parsed = ssh2.utils.parseKey(data)
  if (parsed instanceof Error && /passphrase/i.test(parsed.message))
    throw new UserError(`the SSH key ${file} is locked with a passphrase`, {
      hint: `load it into ssh-agent instead (\`ssh-add ${file}\`) and leave out --ssh-key`,
    })
  const key = Array.isArray(parsed) ? parsed[0] : parsed
  if (key instanceof Error || key === undefined || !key.isPrivateKey())
    throw new UserError(`${file} is not an SSH private key`, {
      hint: 'pass --ssh-key the private half of the key (not the .pub file), e.g. ~/.ssh/id_ed25519',
    })
  return data
}

// Why a host did not answer, or undefined when it answered and something else went wrong.
function unreachableReason(error: Ssh2Error, readyTimeoutMs: number): string | undefined {
  if (error.level === 'client-timeout') return `no answer within ${seconds(readyTimeoutMs)}`
  if (/Connection lost before handshake/.test(error.message))
    return 'connection closed before the SSH handshake'
  const reasons: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ECONNRESET: 'connection reset',
    EHOSTUNREACH: 'no route to host',
    ENETUNREACH: 'network unreachable',
    EHOSTDOWN: 'host is down',
    ETIMEDOUT: 'timed out',
    ENOTFOUND: 'unknown host name',
    EAI_AGAIN: 'the host name could not be looked up',
  }
  if (error.level === 'client-socket' || error.level === 'client-dns')
    return reasons[error.code ?? ''] ?? error.code ?? error.message
  return undefined
}

const programOf = (command: string) => command.trim().split(/\s+/)[0] ?? command

const lost = (target: SshTarget, command: string) =>
  new UserError(`lost the SSH connection to ${target.name} while running ${programOf(command)}`, {
    hint: `check whether ${target.name} rebooted or dropped off the network, then run again`,
  })

// A command's exit status as a shell reports it: 128 + n for a signal, 255 when unknown.
function exitCodeOf(code: number | null | undefined, signal: string | undefined): number {
  if (typeof code === 'number') return code
  const number = signal === undefined ? undefined : constants.signals[signal as NodeJS.Signals]
  return number === undefined ? 255 : 128 + number
}

function execOn(
  client: Client,
  target: SshTarget,
  command: string,
  options: RunOptions = {},
): Promise<RemoteResult> {
  return new Promise<RemoteResult>((resolve, reject) => {
    let channel: ClientChannel | undefined
    let settled = false
    const finish = (outcome: () => void) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      client.off('close', onLost)
      outcome()
    }
    const onLost = () => finish(() => reject(lost(target, command)))
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            finish(() =>
              reject(
                new UserError(
                  `${programOf(command)} on ${target.name} did not finish within ${seconds(options.timeoutMs!)}`,
                  {
                    hint: `it may still be running on ${target.name}; look with \`ps\` there before running again`,
                  },
                ),
              ),
            )
            // sshd leaves a command without a terminal running when its channel closes, and
            // refuses signal requests for root logins (session.c: "session signalling requires
            // privilege separation"): closing is all a client can do.
            try {
              channel?.close()
            } catch {}
          }, options.timeoutMs)
    client.once('close', onLost)
    client.exec(command, (error, stream) => {
      if (error)
        return finish(() =>
          reject(
            new UserError(`cannot run ${programOf(command)} on ${target.name}: ${error.message}`),
          ),
        )
      channel = stream
      let stdout = ''
      let stderr = ''
      stream.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
      stream.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
      // A command that exits without reading its stdin makes the write fail; its status says more.
      stream.on('error', () => {})
      stream.on('close', (code: number | null | undefined, signal?: string) =>
        finish(() => resolve({ code: exitCodeOf(code, signal), stdout, stderr })),
      )
      stream.end(options.stdin ?? '')
    })
  })
}

// After a reboot: retries while the host is unreachable; a wrong host key or refused login is
// final at once.
export async function waitForSsh(
  target: SshTarget,
  auth: SshAuth,
  policy: HostKeyPolicy,
  options: { timeoutMs: number; intervalMs?: number; onWait?: (elapsedMs: number) => void },
): Promise<SshSession> {
  const began = Date.now()
  const interval = options.intervalMs ?? 2_000
  for (;;) {
    const left = options.timeoutMs - (Date.now() - began)
    try {
      return await openSsh(target, auth, policy, {
        readyTimeoutMs: Math.min(10_000, Math.max(1_000, left)),
      })
    } catch (error) {
      if (!(error instanceof UnreachableError)) throw error
      const elapsed = Date.now() - began
      if (elapsed >= options.timeoutMs)
        throw new UserError(
          `${target.name} did not come back within ${seconds(options.timeoutMs)}: ${error.reason}`,
          {
            hint: `look at ${target.name}'s console: at boot the credstore may be waiting for its passphrase`,
          },
        )
      options.onWait?.(elapsed)
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(interval, options.timeoutMs - elapsed)),
      )
    }
  }
}
