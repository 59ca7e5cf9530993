import { execFile, execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import t, { type Test as Tap } from 'tap'
import { fingerprintOf, parsePublicKeyLine } from '../../cli/deploy/host-key.js'
import { knownHostsLine, pinnedSshOptions } from '../../cli/deploy/known-hosts.js'
import { openSsh, waitForSsh, type SshTarget } from '../../cli/deploy/ssh.js'
import { UserError } from '../../cli/errors.js'
import { needsSshd, startSshd } from '../helpers/sshd.js'

// The SSH layer against a real OpenSSH server on loopback.
const exec = promisify(execFile)
const skip = needsSshd()

async function server(t: Tap) {
  const sshd = await startSshd()
  t.teardown(() => sshd.stop())
  const target: SshTarget = { name: 'web1', address: '127.0.0.1', port: sshd.port, user: sshd.user }
  const auth = { identityFile: sshd.clientKeyFile }
  return { sshd, target, auth }
}

const failure = async (promise: Promise<unknown>) => {
  try {
    await promise
  } catch (error) {
    if (error instanceof UserError) return { message: error.message, hint: error.hint, code: error.exitCode }
    throw error
  }
  throw new Error('expected a failure')
}

t.test('fingerprints are what ssh-keygen -l prints', { skip }, async (t) => {
  const { sshd } = await server(t)
  const printed = execFileSync('ssh-keygen', ['-l', '-f', `${sshd.hostKeyFile}.pub`], { encoding: 'utf8' }).split(' ')[1]
  t.equal(fingerprintOf(parsePublicKeyLine(sshd.hostKeyLine)), printed)
  t.throws(() => parsePublicKeyLine('ssh-ed25519 bm90IGEga2V5'), { message: /is not an OpenSSH public key line/ })
})

t.test('commands run with stdin, stdout, stderr and exit code; the pinned key is accepted', { skip }, async (t) => {
  const { sshd, target, auth } = await server(t)
  const session = await openSsh(target, auth, { pinned: sshd.hostKeyLine })
  t.teardown(() => session.close())
  t.same(await session.run('read -r line; echo "got $line"; echo oops >&2; exit 3', { stdin: 'secret-free input\n' }), {
    code: 3,
    stdout: 'got secret-free input\n',
    stderr: 'oops\n',
  })
  t.equal(session.hostKey.line, sshd.hostKeyLine.split(' ').slice(0, 2).join(' '))
  t.equal(session.description, `${sshd.user}@web1 (127.0.0.1:${sshd.port})`)
  const slow = await failure(session.run('sleep 5', { timeoutMs: 300 }))
  t.equal(slow.message, 'sleep on web1 did not finish within 0 s')
})

t.test('a host key that differs from the pin is refused with exit 3, naming both', { skip }, async (t) => {
  const { sshd, target, auth } = await server(t)
  const other = await startSshd()
  t.teardown(() => other.stop())
  const refused = await failure(openSsh(target, auth, { pinned: other.hostKeyLine, hostFile: 'hosts/web1.yaml' }))
  const got = fingerprintOf(parsePublicKeyLine(sshd.hostKeyLine))
  t.equal(refused.message, `web1 presented host key ${got}, but hosts/web1.yaml pins ${fingerprintOf(parsePublicKeyLine(other.hostKeyLine))}`)
  t.equal(refused.code, 3)
  // After a "reboot" into another key, the old pin is refused and the new one accepted.
  const oldKey = sshd.hostKeyLine
  await sshd.restart({ hostKeyFile: path.join(other.dir, 'host_key') })
  t.equal((await failure(openSsh(target, auth, { pinned: oldKey }))).code, 3)
  await (await openSsh(target, auth, { pinned: other.hostKeyLine })).close()
})

t.test('an unpinned key is shown with its fingerprint and accepted only when given', { skip }, async (t) => {
  const { sshd, target, auth } = await server(t)
  const fingerprint = fingerprintOf(parsePublicKeyLine(sshd.hostKeyLine))
  const unpinned = await failure(openSsh(target, auth, { pinned: null }))
  t.equal(unpinned.message, `web1's host key is not pinned: it presented ssh-ed25519 ${fingerprint}`)
  t.match(unpinned.hint, `--accept-host-key ${fingerprint}`)
  t.equal(unpinned.code, 1)
  const session = await openSsh(target, auth, { pinned: null, accept: fingerprint })
  await session.close()
  const wrong = await failure(openSsh(target, auth, { pinned: null, accept: 'SHA256:' + 'B'.repeat(43) }))
  t.equal(wrong.code, 3)
  t.match(wrong.message, `web1 presented host key ${fingerprint}, not the SHA256:BBB`)
})

t.test('unreachable, refused keys and an unreadable key file are one line each', { skip }, async (t) => {
  const { sshd, target, auth } = await server(t)
  await sshd.shutdown()
  const down = await failure(openSsh(target, auth, { pinned: sshd.hostKeyLine }))
  t.equal(down.message, `cannot reach web1 at 127.0.0.1:${sshd.port}: connection refused`)
  await sshd.restart()
  const work = await mkdtemp(path.join(tmpdir(), 'keystone-ssh-test-'))
  t.teardown(() => rm(work, { recursive: true, force: true }))
  await exec('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(work, 'stranger')])
  const stranger = await failure(openSsh(target, { identityFile: path.join(work, 'stranger') }, { pinned: sshd.hostKeyLine }))
  t.equal(stranger.message, `${sshd.user}@127.0.0.1 refused our SSH keys`)
  const missing = await failure(openSsh(target, { identityFile: path.join(work, 'nope') }, { pinned: sshd.hostKeyLine }))
  t.match(missing.message, /^cannot read the SSH key .*nope: ENOENT$/)
})

t.test('waitForSsh waits for a host that comes back, and gives up with one line', { skip }, async (t) => {
  const { sshd, target, auth } = await server(t)
  await sshd.shutdown()
  setTimeout(() => void sshd.restart(), 1500)
  const session = await waitForSsh(target, auth, { pinned: sshd.hostKeyLine }, { timeoutMs: 20_000, intervalMs: 200 })
  t.equal((await session.run('echo back')).stdout, 'back\n')
  await session.close()
  await sshd.shutdown()
  const gaveUp = await failure(waitForSsh(target, auth, { pinned: sshd.hostKeyLine }, { timeoutMs: 600, intervalMs: 200 }))
  t.equal(gaveUp.message, 'web1 did not come back within 1 s (connection refused)')
})

t.test('known_hosts pinning for OpenSSH clients: the pinned key connects, another is refused', { skip }, async (t) => {
  const { sshd } = await server(t)
  const work = await mkdtemp(path.join(tmpdir(), 'keystone-known-hosts-'))
  t.teardown(() => rm(work, { recursive: true, force: true }))
  t.equal(knownHostsLine('192.0.2.1', 22, 'ssh-ed25519 AAAA comment'), '192.0.2.1 ssh-ed25519 AAAA')
  const file = path.join(work, 'known_hosts')
  const ssh = () =>
    exec('ssh', ['-p', String(sshd.port), '-i', sshd.clientKeyFile, ...pinnedSshOptions(file).flatMap((o) => ['-o', o]), '-o', 'BatchMode=yes', `${sshd.user}@127.0.0.1`, 'echo pinned'])
  await writeFile(file, knownHostsLine('127.0.0.1', sshd.port, sshd.hostKeyLine) + '\n')
  t.equal((await ssh()).stdout, 'pinned\n')
  const other = await startSshd()
  t.teardown(() => other.stop())
  await writeFile(file, knownHostsLine('127.0.0.1', sshd.port, other.hostKeyLine) + '\n')
  const refused = await ssh().then(
    () => '',
    (error: { stderr: string }) => error.stderr,
  )
  t.match(refused, /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/)
  t.match(await readFile(file, 'utf8'), `[127.0.0.1]:${sshd.port} ssh-ed25519 `)
})
