import { readFileSync } from 'node:fs'
import { Client, type ConnectConfig } from 'ssh2'
import { UserError } from '../errors.js'
import { ExitCode } from '../exit-codes.js'
import { fingerprintOf, parsePublicKeyLine, publicKeyOfBlob, type PublicKey } from './host-key.js'
import type { RemoteResult, RemoteShell, RunOptions } from './remote-shell.js'

// The one door to ssh2 (STYLE.md §5). Every connection verifies the target's host key against the
// host file's pin, or against a fingerprint the admin accepted explicitly; every failure is one
// line that says what to do.

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

export interface HostKeyPolicy {
  // The pinned OpenSSH public key line, or null when none is pinned yet.
  pinned: string | null
  // A fingerprint (SHA256:…) given with --accept-host-key.
  accept?: string
  // The host file, for messages (`hosts/web1.yaml`).
  hostFile?: string
}

export interface SshSession extends RemoteShell {
  hostKey: PublicKey
  close(): Promise<void>
}

// RFC 8332: an ssh-rsa key is presented with one of these signature algorithms.
const ALGORITHMS: Record<string, string[]> = {
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
}

export async function openSsh(
  target: SshTarget,
  auth: SshAuth,
  policy: HostKeyPolicy,
  options: { readyTimeoutMs?: number } = {},
): Promise<SshSession> {
  const pinned = policy.pinned === null ? undefined : parsePublicKeyLine(policy.pinned)
  const hostFile = policy.hostFile ?? `hosts/${target.name}.yaml`
  let presented: PublicKey | undefined
  let refusal: UserError | undefined
  const config: ConnectConfig = {
    host: target.address,
    port: target.port,
    username: target.user,
    readyTimeout: options.readyTimeoutMs ?? 20_000,
    ...privateKeyOf(auth),
    ...(auth.agentSocket !== undefined && { agent: auth.agentSocket }),
    ...(pinned !== undefined && {
      algorithms: { serverHostKey: (ALGORITHMS[pinned.type] ?? [pinned.type]) as never },
    }),
    hostVerifier: (blob: Buffer) => {
      presented = publicKeyOfBlob(blob)
      refusal = checkHostKey(target, presented, pinned, policy.accept, hostFile)
      return refusal === undefined
    },
  }
  const client = new Client()
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve)
    client.once('error', (error: Error & { level?: string; code?: string }) => {
      reject(refusal ?? connectionError(target, error))
    })
    client.connect(config)
  })
  const session: SshSession = {
    description: `${target.user}@${target.name} (${target.address}:${target.port})`,
    hostKey: presented!,
    run: (command, runOptions) => execOn(client, target, command, runOptions),
    close: () =>
      new Promise<void>((resolve) => {
        client.once('close', () => resolve())
        client.end()
        setTimeout(resolve, 2000).unref()
      }),
  }
  return session
}

function privateKeyOf(auth: SshAuth): { privateKey?: Buffer } {
  if (auth.identityFile === undefined) return {}
  try {
    return { privateKey: readFileSync(auth.identityFile) }
  } catch (error) {
    throw new UserError(
      `cannot read the SSH key ${auth.identityFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    )
  }
}

function checkHostKey(
  target: SshTarget,
  presented: PublicKey,
  pinned: PublicKey | undefined,
  accept: string | undefined,
  hostFile: string,
): UserError | undefined {
  const got = fingerprintOf(presented)
  if (pinned !== undefined) {
    if (presented.blob.equals(pinned.blob)) return undefined
    return new UserError(
      `${target.name} presented host key ${got}, but ${hostFile} pins ${fingerprintOf(pinned)}`,
      {
        exitCode: ExitCode.integrity,
        hint: `if ${target.name} was reinstalled outside Keystone, check ${got} on its console, remove ssh.hostKey from ${hostFile} and run again with --accept-host-key ${got}; otherwise someone may be intercepting the connection`,
      },
    )
  }
  if (accept === undefined)
    return new UserError(
      `${target.name}'s host key is not pinned: it presented ${presented.type} ${got}`,
      {
        hint: `compare it with \`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\` on the machine's console, then run again with --accept-host-key ${got}`,
      },
    )
  if (accept === got) return undefined
  return new UserError(
    `${target.name} presented host key ${got}, not the ${accept} given to --accept-host-key`,
    {
      exitCode: ExitCode.integrity,
      hint: 'check the fingerprint on the console again; a different key may mean someone is intercepting the connection',
    },
  )
}

function connectionError(
  target: SshTarget,
  error: Error & { level?: string; code?: string },
): UserError {
  if (error.level === 'client-authentication')
    return new UserError(`${target.user}@${target.address} refused our SSH keys`, {
      hint: 'load the admin key into ssh-agent, or pass --ssh-key <file>; its public half must be in the host’s authorized keys',
    })
  if (/passphrase/i.test(error.message))
    return new UserError('the SSH key is locked with a passphrase', {
      hint: 'load it into ssh-agent instead of passing --ssh-key',
    })
  const reason =
    error.level === 'client-timeout'
      ? 'no answer (timed out)'
      : ((
          {
            ECONNREFUSED: 'connection refused',
            EHOSTUNREACH: 'no route to host',
            ENOTFOUND: 'unknown host name',
            ETIMEDOUT: 'timed out',
            ECONNRESET: 'connection reset',
          } as Record<string, string>
        )[error.code ?? ''] ?? error.message)
  return new UserError(
    `cannot reach ${target.name} at ${target.address}:${target.port}: ${reason}`,
    {
      hint: `check that the machine is up and that ssh.address and ssh.port in hosts/${target.name}.yaml are right`,
    },
  )
}

function execOn(
  client: Client,
  target: SshTarget,
  command: string,
  options: RunOptions = {},
): Promise<RemoteResult> {
  const program = command.trim().split(/\s+/)[0] ?? command
  return new Promise<RemoteResult>((resolve, reject) => {
    let settled = false
    const finish = (fn: () => void) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      client.off('close', onLost)
      fn()
    }
    const onLost = () =>
      finish(() =>
        reject(new UserError(`lost the SSH connection to ${target.name} while running ${program}`)),
      )
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(
            () =>
              finish(() =>
                reject(
                  new UserError(
                    `${program} on ${target.name} did not finish within ${Math.round(options.timeoutMs! / 1000)} s`,
                  ),
                ),
              ),
            options.timeoutMs,
          )
    client.once('close', onLost)
    client.exec(command, (error, stream) => {
      if (error)
        return finish(() =>
          reject(new UserError(`cannot run ${program} on ${target.name}: ${error.message}`)),
        )
      let stdout = ''
      let stderr = ''
      stream.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
      stream.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
      stream.on('close', (code: number | null, signal?: string) =>
        finish(() =>
          resolve({
            code: code ?? (signal === undefined ? 255 : 128 + (SIGNALS[signal] ?? 0)),
            stdout,
            stderr,
          }),
        ),
      )
      stream.end(options.stdin ?? '')
    })
  })
}

const SIGNALS: Record<string, number> = { HUP: 1, INT: 2, KILL: 9, TERM: 15, PIPE: 13 }

// After a reboot: retries while the host is unreachable; a wrong host key or refused login is
// final at once.
export async function waitForSsh(
  target: SshTarget,
  auth: SshAuth,
  policy: HostKeyPolicy,
  options: { timeoutMs: number; intervalMs?: number; onWait?: (elapsedMs: number) => void },
): Promise<SshSession> {
  const began = Date.now()
  for (;;) {
    try {
      return await openSsh(target, auth, policy, { readyTimeoutMs: 10_000 })
    } catch (error) {
      const unreachable = error instanceof UserError && error.message.startsWith('cannot reach ')
      const elapsed = Date.now() - began
      if (!unreachable) throw error
      if (elapsed >= options.timeoutMs)
        throw new UserError(
          `${target.name} did not come back within ${Math.round(options.timeoutMs / 1000)} s (${error.message.replace(/^cannot reach .*?:\d+: /, '')})`,
          {
            hint: 'look at the machine’s console: at first boot the credstore asks for its passphrase',
          },
        )
      options.onWait?.(elapsed)
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 2_000))
    }
  }
}
