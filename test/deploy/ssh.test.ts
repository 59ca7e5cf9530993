import { execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t, { type Test as Tap } from 'tap'
import { fingerprintOf, parsePublicKeyLine } from '../../cli/deploy/host-key.js'
import { openSsh, waitForSsh, type SshAuth, type SshTarget } from '../../cli/deploy/ssh.js'
import { UserError } from '../../cli/errors.js'
import { needsSshd, startSshd } from '../helpers/sshd.js'

// The SSH layer against a real OpenSSH server on loopback: host key pins, first contact,
// refusals, commands, timeouts and waiting for a machine that reboots.
const skip = needsSshd()
const pinOf = { hostFile: 'hosts/web1.yaml' }

async function server(t: Tap, options: Parameters<typeof startSshd>[0] = {}) {
  const sshd = await startSshd(options)
  t.teardown(() => sshd.stop())
  const target: SshTarget = { name: 'web1', address: '127.0.0.1', port: sshd.port, user: sshd.user }
  const auth: SshAuth = { identityFile: sshd.clientKeyFile }
  return { sshd, target, auth }
}

async function workDir(t: Tap): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'keystone-ssh-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

// ssh-keygen(1): a key pair in `dir`; returns the private key file.
function keygen(dir: string, name: string, args: string[] = ['-t', 'ed25519']): string {
  const file = path.join(dir, name)
  execFileSync('ssh-keygen', [
    '-q',
    ...args,
    '-C',
    name,
    '-f',
    file,
    ...(args.includes('-N') ? [] : ['-N', '']),
  ])
  return file
}

const fingerprint = (line: string) => fingerprintOf(parsePublicKeyLine(line))

const failure = async (promise: Promise<unknown>): Promise<UserError> => {
  try {
    await promise
  } catch (error) {
    if (error instanceof UserError) return error
    throw error
  }
  throw new Error('expected a UserError, but it succeeded')
}

const timed = async <T>(promise: Promise<T>) => {
  const began = Date.now()
  const value = await promise
  return { value, ms: Date.now() - began }
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

t.test(
  'a command gets its stdin and returns stdout, stderr and exit status',
  { skip },
  async (t) => {
    const { sshd, target, auth } = await server(t)
    const session = await openSsh(target, auth, { pinned: sshd.hostKeyLine, ...pinOf })
    t.teardown(() => session.close())
    t.equal(session.description, `${sshd.user}@web1 (127.0.0.1:${sshd.port})`)
    t.equal(session.hostKey.line, parsePublicKeyLine(sshd.hostKeyLine).line)

    t.same(
      await session.run('read -r line; echo "got $line"; echo oops >&2; exit 3', {
        stdin: 'input\n',
      }),
      { code: 3, stdout: 'got input\n', stderr: 'oops\n' },
    )
    t.same(await session.run('cat'), { code: 0, stdout: '', stderr: '' }, 'stdin is closed')
    t.equal((await session.run('printf "%s\\n" "grüße ✓"')).stdout, 'grüße ✓\n')
    const bytes = await session.run('od -An -tx1 | tr -d " \\n"', {
      stdin: new Uint8Array([0, 255, 10]),
    })
    t.equal(bytes.stdout, '00ff0a', 'binary stdin arrives byte for byte')
    const big = 'x'.repeat(4 << 20)
    t.equal((await session.run('wc -c', { stdin: big })).stdout.trim(), String(4 << 20))
    t.equal((await session.run('exit 0', { stdin: big })).code, 0, 'unread stdin is no error')
    t.equal((await session.run('kill -TERM $$')).code, 128 + 15, 'a signal reads as 128 + n')
    const together = await Promise.all([1, 2, 3].map((n) => session.run(`sleep 0.2; echo ${n}`)))
    t.same(
      together.map((r) => r.stdout),
      ['1\n', '2\n', '3\n'],
    )
  },
)

t.test('the test sshd puts fake tools first on PATH and passes env', { skip }, async (t) => {
  const bin = await workDir(t)
  await writeFile(path.join(bin, 'uname'), '#!/bin/sh\necho fake uname\n')
  await chmod(path.join(bin, 'uname'), 0o755)
  const { sshd, target, auth } = await server(t, {
    pathPrepend: [bin],
    env: { KEYSTONE_TEST_VALUE: 'two words' },
  })
  const session = await openSsh(target, auth, { pinned: sshd.hostKeyLine })
  t.teardown(() => session.close())
  const result = await session.run(
    'uname; sh -c uname; command -v uname; echo "$KEYSTONE_TEST_VALUE"; echo "$PATH"',
  )
  t.same(result.stdout.split('\n'), [
    'fake uname',
    'fake uname',
    path.join(bin, 'uname'),
    'two words',
    `${bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    '',
  ])
})

t.test('a command that outlives its timeout is reported in one line', { skip }, async (t) => {
  const { sshd, target, auth } = await server(t)
  const session = await openSsh(target, auth, { pinned: sshd.hostKeyLine })
  t.teardown(() => session.close())
  const { value: slow, ms } = await timed(
    failure(session.run('sleep 3; echo late', { stdin: 'hunter2', timeoutMs: 300 })),
  )
  t.equal(slow.message, 'sleep on web1 did not finish within 0.3 s')
  t.ok(ms < 2_000, `gave up after ${ms} ms`)
  t.notMatch(`${slow.message} ${slow.hint}`, /hunter2/, 'stdin never reaches a message')
  t.equal((await session.run('echo still here')).stdout, 'still here\n')
})

t.test(
  'a host key other than the pinned one is refused with exit 3, naming both',
  { skip },
  async (t) => {
    const { sshd, target, auth } = await server(t)
    const dir = await workDir(t)
    const other = keygen(dir, 'other')
    const otherLine = await readFile(`${other}.pub`, 'utf8')
    const serverKey = sshd.hostKeyLine
    t.not(fingerprint(otherLine), fingerprint(serverKey))

    const refused = await failure(openSsh(target, auth, { pinned: otherLine, ...pinOf }))
    t.equal(
      refused.message,
      `web1 presented host key ${fingerprint(serverKey)}, but hosts/web1.yaml pins ${fingerprint(otherLine)}`,
    )
    t.equal(refused.exitCode, 3)
    t.match(refused.hint, /reinstalled outside Keystone.*intercepting/)

    // The machine "reboots" into a system with another host key: the old pin no longer opens it.
    await sshd.restart({ hostKeyFile: other })
    const stale = await failure(openSsh(target, auth, { pinned: serverKey, ...pinOf }))
    t.equal(
      stale.message,
      `web1 presented host key ${fingerprint(otherLine)}, but hosts/web1.yaml pins ${fingerprint(serverKey)}`,
    )
    t.equal(stale.exitCode, 3)
    const session = await openSsh(target, auth, { pinned: otherLine, ...pinOf })
    t.equal(fingerprintOf(session.hostKey), fingerprint(otherLine))
    await session.close()
  },
)

t.test(
  'an unpinned host shows its fingerprint and opens only with that fingerprint',
  { skip },
  async (t) => {
    const { sshd, target, auth } = await server(t)
    const presented = fingerprint(sshd.hostKeyLine)
    const unpinned = await failure(openSsh(target, auth, { pinned: null, ...pinOf }))
    t.equal(
      unpinned.message,
      `web1's host key is not pinned: it presented ssh-ed25519 ${presented}`,
    )
    t.equal(unpinned.exitCode, 1)
    t.match(unpinned.hint, '`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`')
    t.match(unpinned.hint, `--accept-host-key ${presented}`)

    const session = await openSsh(target, auth, { pinned: null, accept: presented, ...pinOf })
    t.equal(session.hostKey.line, parsePublicKeyLine(sshd.hostKeyLine).line)
    t.equal((await session.run('echo accepted')).stdout, 'accepted\n')
    await session.close()

    const dir = await workDir(t)
    const otherLine = await readFile(`${keygen(dir, 'other')}.pub`, 'utf8')
    const wrong = await failure(
      openSsh(target, auth, { pinned: null, accept: fingerprint(otherLine), ...pinOf }),
    )
    t.equal(
      wrong.message,
      `web1 presented host key ${presented}, not the ${fingerprint(otherLine)} given to --accept-host-key`,
    )
    t.equal(wrong.exitCode, 3)
  },
)

t.test('with several host keys, the server presents the pinned type', { skip }, async (t) => {
  const dir = await workDir(t)
  const rsa = keygen(dir, 'rsa', ['-t', 'rsa', '-b', '3072'])
  const rsaLine = await readFile(`${rsa}.pub`, 'utf8')
  const { sshd, target, auth } = await server(t, { extraHostKeyFiles: [rsa] })
  const session = await openSsh(target, auth, { pinned: rsaLine, ...pinOf })
  t.equal(session.hostKey.type, 'ssh-rsa')
  t.equal(fingerprintOf(session.hostKey), fingerprint(rsaLine))
  await session.close()
  const unpinned = await failure(openSsh(target, auth, { pinned: null }))
  t.match(unpinned.message, `presented ssh-ed25519 ${fingerprint(sshd.hostKeyLine)}`)

  const ecdsaLine = await readFile(`${keygen(dir, 'ecdsa', ['-t', 'ecdsa'])}.pub`, 'utf8')
  const missing = await failure(openSsh(target, auth, { pinned: ecdsaLine, ...pinOf }))
  t.equal(
    missing.message,
    `web1 offered no ecdsa-sha2-nistp256 host key, but hosts/web1.yaml pins ${fingerprint(ecdsaLine)}`,
  )
  t.equal(missing.exitCode, 3)
})

t.test('a pin of a key type ssh2 cannot verify is refused before connecting', async (t) => {
  // A FIDO host key (PROTOCOL.u2f): type, 32-byte key, application.
  const sshString = (data: Buffer | string) => {
    const bytes = Buffer.from(data)
    return Buffer.concat([Buffer.from([0, 0, 0, bytes.length]), bytes])
  }
  const type = 'sk-ssh-ed25519@openssh.com'
  const blob = Buffer.concat([sshString(type), sshString(Buffer.alloc(32, 1)), sshString('ssh:')])
  const target = { name: 'web1', address: '127.0.0.1', port: 9, user: 'root' }
  const error = await failure(
    openSsh(
      target,
      { agentSocket: '/nonexistent' },
      { pinned: `${type} ${blob.toString('base64')}`, ...pinOf },
    ),
  )
  t.equal(error.message, `hosts/web1.yaml pins a ${type} host key, which Keystone cannot verify`)
  t.match(error.hint, 'ssh_host_ed25519_key.pub')
})

t.test('an unreachable host is one line, quickly', { skip }, async (t) => {
  const { sshd, target, auth } = await server(t)
  await sshd.shutdown()
  const { value: down, ms } = await timed(
    failure(openSsh(target, auth, { pinned: sshd.hostKeyLine, ...pinOf })),
  )
  t.equal(down.message, `cannot reach web1 at 127.0.0.1:${sshd.port}: connection refused`)
  t.equal(
    down.hint,
    'check that the machine is up and that ssh.address and ssh.port in hosts/web1.yaml are right',
  )
  t.equal(down.exitCode, 1)
  t.ok(ms < 2_000, `refused after ${ms} ms`)

  // A port that accepts connections but never speaks SSH.
  const sockets: Socket[] = []
  const silent = createServer((socket) => sockets.push(socket))
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    silent.close()
  })
  const silentPort = (silent.address() as { port: number }).port
  const mute = await failure(
    openSsh(
      { ...target, port: silentPort },
      auth,
      { pinned: sshd.hostKeyLine },
      { readyTimeoutMs: 500 },
    ),
  )
  t.equal(mute.message, `cannot reach web1 at 127.0.0.1:${silentPort}: no answer within 0.5 s`)
})

t.test('refused and unusable client keys are one line each', { skip }, async (t) => {
  const { sshd, target } = await server(t)
  const dir = await workDir(t)
  const pinned = { pinned: sshd.hostKeyLine, ...pinOf }
  const stranger = await failure(openSsh(target, { identityFile: keygen(dir, 'stranger') }, pinned))
  t.equal(stranger.message, `${sshd.user}@127.0.0.1 refused our SSH keys`)
  t.match(stranger.hint, /ssh-agent.*--ssh-key <file>/)
  t.equal(stranger.exitCode, 1)

  const missing = path.join(dir, 'nope')
  t.equal(
    (await failure(openSsh(target, { identityFile: missing }, pinned))).message,
    `cannot read the SSH key ${missing}: no such file`,
  )
  const locked = keygen(dir, 'locked', ['-t', 'ed25519', '-N', 'correct horse'])
  const lockedError = await failure(openSsh(target, { identityFile: locked }, pinned))
  t.equal(lockedError.message, `the SSH key ${locked} is locked with a passphrase`)
  t.match(lockedError.hint, `ssh-add ${locked}`)
  t.equal(
    (await failure(openSsh(target, { identityFile: `${sshd.clientKeyFile}.pub` }, pinned))).message,
    `${sshd.clientKeyFile}.pub is not an SSH private key`,
  )
  t.equal((await failure(openSsh(target, {}, pinned))).message, 'no SSH key to log in to web1 with')
  // The host key is checked before any key is offered.
  const both = await failure(
    openSsh(target, { identityFile: keygen(dir, 'stranger2') }, { pinned: null, ...pinOf }),
  )
  t.match(both.message, "web1's host key is not pinned")
})

t.test('keys in ssh-agent log in; a broken agent socket is named', { skip }, async (t) => {
  const { sshd, target } = await server(t)
  const dir = await workDir(t)
  const socket = path.join(dir, 'agent.sock')
  const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' })
  t.teardown(() => {
    agent.kill()
  })
  for (let i = 0; i < 100 && !existsSync(socket); i++) await delay(50)
  execFileSync('ssh-add', ['-q', sshd.clientKeyFile], {
    env: { ...process.env, SSH_AUTH_SOCK: socket },
  })
  const pinned = { pinned: sshd.hostKeyLine, ...pinOf }

  const session = await openSsh(target, { agentSocket: socket }, pinned)
  t.equal((await session.run('echo agent')).stdout, 'agent\n')
  await session.close()

  const gone = path.join(dir, 'no-agent.sock')
  const fallback = await openSsh(
    target,
    { agentSocket: gone, identityFile: sshd.clientKeyFile },
    pinned,
  )
  t.equal((await fallback.run('echo key file')).stdout, 'key file\n', 'the key file still works')
  await fallback.close()
  const broken = await failure(openSsh(target, { agentSocket: gone }, pinned))
  t.equal(broken.message, `${sshd.user}@127.0.0.1 refused our SSH keys`)
  t.match(broken.hint, `(the ssh-agent at ${gone} failed: `)
})

t.test('a connection that drops mid-command is reported as lost', { skip }, async (t) => {
  const { sshd, target, auth } = await server(t)
  const session = await openSsh(target, auth, { pinned: sshd.hostKeyLine })
  // $PPID is the sshd process serving this connection.
  const { value: lost, ms } = await timed(
    failure(session.run('kill -KILL $PPID; sleep 5', { stdin: 'hunter2' })),
  )
  t.equal(lost.message, 'lost the SSH connection to web1 while running kill')
  t.notMatch(`${lost.message} ${lost.hint}`, /hunter2/)
  t.ok(ms < 3_000, `noticed after ${ms} ms`)
  t.equal(
    (await failure(session.run('echo again'))).message,
    'lost the SSH connection to web1 while running echo',
  )
  await session.close()
})

t.test('waitForSsh waits for a rebooting host and gives up in one line', { skip }, async (t) => {
  const { sshd, target, auth } = await server(t)
  const dir = await workDir(t)
  const pinned = { pinned: sshd.hostKeyLine, ...pinOf }

  await sshd.shutdown()
  const restarted = delay(1_500).then(() => sshd.restart())
  const waits: number[] = []
  const { value: session, ms } = await timed(
    waitForSsh(target, auth, pinned, {
      timeoutMs: 20_000,
      intervalMs: 200,
      onWait: (elapsed) => waits.push(elapsed),
    }),
  )
  await restarted
  t.equal((await session.run('echo back')).stdout, 'back\n')
  await session.close()
  t.ok(ms >= 1_400, `waited ${ms} ms for the restart`)
  t.ok(waits.length >= 3, `onWait was called ${waits.length} times`)
  t.same(
    waits,
    [...waits].sort((a, b) => a - b),
    'with growing elapsed times',
  )

  await sshd.shutdown()
  const { value: gaveUp, ms: waited } = await timed(
    failure(waitForSsh(target, auth, pinned, { timeoutMs: 600, intervalMs: 200 })),
  )
  t.equal(gaveUp.message, 'web1 did not come back within 0.6 s: connection refused')
  t.match(gaveUp.hint, /console/)
  t.ok(waited >= 600 && waited < 3_000, `gave up after ${waited} ms`)

  // Back on a new host key: the old pin is final at once, the new one opens.
  const next = keygen(dir, 'next')
  await sshd.restart({ hostKeyFile: next })
  const { value: refused, ms: refusedAfter } = await timed(
    failure(waitForSsh(target, auth, pinned, { timeoutMs: 20_000, intervalMs: 200 })),
  )
  t.equal(refused.exitCode, 3)
  t.match(refused.message, `but hosts/web1.yaml pins ${fingerprint(pinned.pinned)}`)
  t.ok(refusedAfter < 3_000, `refused after ${refusedAfter} ms, without waiting`)
  const stranger = await failure(
    waitForSsh(
      target,
      { identityFile: keygen(dir, 'stranger') },
      { pinned: sshd.hostKeyLine },
      { timeoutMs: 20_000 },
    ),
  )
  t.match(stranger.message, 'refused our SSH keys')
  const renewed = await waitForSsh(target, auth, { pinned: sshd.hostKeyLine }, { timeoutMs: 5_000 })
  t.equal(fingerprintOf(renewed.hostKey), fingerprint(await readFile(`${next}.pub`, 'utf8')))
  await renewed.close()
})
