import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { checkSshPublicKey } from '../../cli/host/ssh-keys.js'
import { needs } from '../helpers/needs.js'

const run = promisify(execFile)
const aliceFile = path.resolve(import.meta.dirname, '../fixtures/ssh-keys/alice-ed25519.pub')
// `ssh-keygen -l` prints a key's fingerprint and exits 0; most other read-only calls exit 1.
const skip = needs('ssh-keygen', ['-l', '-f', aliceFile])

const CUT_SHORT = { ok: false, reason: 'the key data is cut short (copied only part of it?)' }

// Fresh keys from the real tool, in a private directory removed when the test ends.
async function keygen(t: { teardown(fn: () => Promise<void>): void }, ...args: string[]) {
  const dir = await mkdtemp(path.join(tmpdir(), 'keystone-ssh-keys-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'key')
  await run('ssh-keygen', ['-q', '-N', '', '-C', 'alice@laptop', '-f', file, ...args])
  const pub = (await readFile(`${file}.pub`, 'utf8')).trim()
  return { file, pub, blob: pub.split(' ')[1]!, private: await readFile(file, 'utf8') }
}

t.test('keys made by ssh-keygen are accepted', { skip }, async (t) => {
  const kinds: [string[], string][] = [
    [['-t', 'ed25519'], 'ssh-ed25519'],
    [['-t', 'rsa', '-b', '3072'], 'ssh-rsa'],
    [['-t', 'ecdsa', '-b', '256'], 'ecdsa-sha2-nistp256'],
    [['-t', 'ecdsa', '-b', '384'], 'ecdsa-sha2-nistp384'],
    [['-t', 'ecdsa', '-b', '521'], 'ecdsa-sha2-nistp521'],
  ]
  for (const [args, type] of kinds) {
    const { pub } = await keygen(t, ...args)
    t.same(checkSshPublicKey(pub), { ok: true, type }, args.join(' '))
    t.same(checkSshPublicKey(`  ${pub} second word\n`), { ok: true, type }, `${args.join(' ')} with spaces around and in the comment`)
  }
})

t.test('mangled keys are rejected with the reason', { skip }, async (t) => {
  const ed = await keygen(t, '-t', 'ed25519')
  const rsa = await keygen(t, '-t', 'rsa', '-b', '3072')
  const ecdsa = await keygen(t, '-t', 'ecdsa', '-b', '256')

  // Cut at a multiple of 4 characters, so that only the structure can tell.
  t.same(checkSshPublicKey(`ssh-ed25519 ${ed.blob.slice(0, 56)}`), CUT_SHORT, 'ed25519 cut short')
  t.same(checkSshPublicKey(`ssh-rsa ${rsa.blob.slice(0, rsa.blob.length - 40)}`), CUT_SHORT, 'rsa cut short')
  t.same(checkSshPublicKey(`ecdsa-sha2-nistp256 ${ecdsa.blob.slice(0, 100)}`), CUT_SHORT, 'ecdsa cut short')
  t.same(checkSshPublicKey(`ssh-ed25519 ${ed.blob}AAAA`), CUT_SHORT, 'trailing bytes after the last field')
  t.same(checkSshPublicKey(`ssh-rsa ${ed.blob}`), { ok: false, reason: 'the key data is a `ssh-ed25519` key, not `ssh-rsa`' })
  t.same(checkSshPublicKey(`ecdsa-sha2-nistp384 ${ecdsa.blob}`), {
    ok: false,
    reason: 'the key data is a `ecdsa-sha2-nistp256` key, not `ecdsa-sha2-nistp384`',
  })
  t.same(checkSshPublicKey(`ssh-rsa ${rsa.blob.slice(0, 30)} ${rsa.blob.slice(30)}`), {
    ok: false,
    reason: 'the key data is not valid base64 (cut short, or split by a space?)',
  })
  t.same(checkSshPublicKey(`ssh-ed25519 ${ed.blob.slice(0, 20)}…`), { ok: false, reason: 'the key data contains `…`, which is not base64' })
  t.same(checkSshPublicKey(ed.blob), { ok: false, reason: 'expected `<type> <base64> [comment]`' })
  t.same(checkSshPublicKey(`restrict ${ed.pub}`), { ok: false, reason: 'unknown key type `restrict`' }, 'authorized_keys options')
  t.same(checkSshPublicKey(ed.private), { ok: false, reason: 'this is a private key', privateKey: true })
  t.same(checkSshPublicKey(rsa.private), { ok: false, reason: 'this is a private key', privateKey: true })

  const rfc4716 = (await run('ssh-keygen', ['-e', '-f', `${ed.file}.pub`])).stdout
  t.same(checkSshPublicKey(rfc4716), { ok: false, reason: 'this is an RFC 4716 public key; convert it with `ssh-keygen -i -f <file>`' })
  const pem = (await run('ssh-keygen', ['-e', '-m', 'PKCS8', '-f', `${rsa.file}.pub`])).stdout
  t.same(checkSshPublicKey(pem), { ok: false, reason: 'this is a PEM key; convert it with `ssh-keygen -i -m PKCS8 -f <file>`' })
})

t.test('the committed example key is accepted without ssh-keygen', async (t) => {
  t.same(checkSshPublicKey(await readFile(aliceFile, 'utf8')), { ok: true, type: 'ssh-ed25519' })
  const alice = 'AAAAC3NzaC1lZDI1NTE5AAAAIM97szXfPQIyB7HG36CpXtNVR5xg4mXjD23yWbv6K/c2'
  t.same(checkSshPublicKey(`ssh-ed25519 ${alice.replace('/', '_')}`), { ok: false, reason: 'the key data contains `_`, which is not base64' }, 'URL-safe base64')
  t.same(checkSshPublicKey(''), { ok: false, reason: 'expected `<type> <base64> [comment]`' })
  t.same(checkSshPublicKey('ssh-dss AAAAB3NzaC1kc3M='), { ok: false, reason: 'unknown key type `ssh-dss`' })
  t.same(checkSshPublicKey('PuTTY-User-Key-File-3: ssh-ed25519'), { ok: false, reason: 'this is a private key', privateKey: true })
})
