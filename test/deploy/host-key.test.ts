import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import {
  checkHostKey,
  fingerprintOf,
  parseFingerprint,
  parsePublicKeyLine,
  pinnedKeyMissing,
  publicKeyOfBlob,
} from '../../cli/deploy/host-key.js'
import { UserError } from '../../cli/errors.js'
import { needs } from '../helpers/needs.js'

// Keys and fingerprints as ssh-keygen(1) prints them, and the pinning decision as data.

// Two host keys and what `ssh-keygen -lf` printed for them.
const WEB1 = {
  line: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJtflGGbehKBZMOkequ5pPtixIAwazu6tVhoa+ZPJ945 web1 host key',
  fingerprint: 'SHA256:b1Y8Ef4WvfbXSFO1hjgdvrBUemzPjU3cONlKCqopPyU',
}
const OTHER = {
  line: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJAdhS0ElKIWVAyvlyP7EmVZBmYE7GHLCQnzd2TfvBVU',
  fingerprint: 'SHA256:HGIpzTcvgE3vjiZf5klGFT2y7wBzNtYA/N2fujuH4+A',
}

const work = mkdtempSync(path.join(tmpdir(), 'keystone-host-key-test-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))
writeFileSync(path.join(work, 'web1.pub'), WEB1.line + '\n')
const skip = needs('ssh-keygen', ['-l', '-f', path.join(work, 'web1.pub')])

const refusal = (fn: () => unknown) => {
  try {
    fn()
  } catch (error) {
    if (error instanceof UserError) return error
    throw error
  }
  throw new Error('expected a UserError')
}

t.test('a public key line: type, blob, the line without its comment', async (t) => {
  const key = parsePublicKeyLine(`  ${WEB1.line}\n`)
  t.equal(key.type, 'ssh-ed25519')
  t.equal(key.line, WEB1.line.split(' ').slice(0, 2).join(' '))
  t.equal(key.blob.length, 51, '4 + 11 bytes of type, 4 + 32 bytes of key')
  t.equal(fingerprintOf(key), WEB1.fingerprint)
  t.equal(fingerprintOf(key.blob), WEB1.fingerprint)
  t.same(publicKeyOfBlob(key.blob), key, 'the blob a server presents reads back as the same key')
  t.equal(parsePublicKeyLine(OTHER.line).line, OTHER.line)
  t.equal(fingerprintOf(parsePublicKeyLine(OTHER.line)), OTHER.fingerprint)
})

t.test('garbage is refused in one line, and a private key is never echoed', async (t) => {
  const base64 = WEB1.line.split(' ')[1]!
  for (const line of [
    '',
    'ssh-ed25519',
    `ssh-rsa ${base64}`,
    `ssh-ed25519 ${base64.slice(0, 20)}`,
    `ssh-ed25519 ${base64.replace('A', '!')}`,
    'ssh-ed25519 bm90IGEga2V5',
  ]) {
    const error = refusal(() => parsePublicKeyLine(line))
    t.match(error.message, /^expected an OpenSSH public key line, got `/, JSON.stringify(line))
    t.notMatch(error.message, /\n/)
    t.match(error.hint, /ssh_host_ed25519_key\.pub/)
  }
  t.equal(
    refusal(() =>
      parsePublicKeyLine(`ssh-ed25519 ${'A'.repeat(80)}`, 'ssh.hostKey in hosts/web1.yaml'),
    ).message,
    'expected an OpenSSH public key line, got `ssh-ed25519 AAAAAAAAAAAAAAAAAAAA…` (ssh.hostKey in hosts/web1.yaml)',
  )
  const secret = 'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW'
  const pasted = `-----BEGIN OPENSSH PRIVATE KEY-----\n${secret}\n-----END OPENSSH PRIVATE KEY-----\n`
  const error = refusal(() => parsePublicKeyLine(pasted))
  t.equal(error.message, 'expected an OpenSSH public key line, got a private key')
  t.notMatch(`${error.message} ${error.hint}`, secret.slice(0, 12))
  t.throws(() => publicKeyOfBlob(Buffer.from('nonsense')), {
    message: 'the SSH host key the server presented is malformed',
  })
})

t.test(
  'fingerprints are what ssh-keygen -lf prints, for every host key type',
  { skip },
  async (t) => {
    const printed = (file: string) =>
      execFileSync('ssh-keygen', ['-l', '-f', file], { encoding: 'utf8' }).split(' ')[1]
    t.equal(printed(path.join(work, 'web1.pub')), WEB1.fingerprint, 'the vector above is right')
    const kinds = [
      ['ed25519'],
      ['ecdsa', '256'],
      ['ecdsa', '384'],
      ['ecdsa', '521'],
      ['rsa', '3072'],
    ]
    for (const [type, bits] of kinds) {
      const file = path.join(work, `${type}-${bits ?? ''}`)
      execFileSync('ssh-keygen', [
        '-q',
        '-t',
        type!,
        ...(bits ? ['-b', bits] : []),
        '-N',
        '',
        '-f',
        file,
      ])
      const key = parsePublicKeyLine(readFileSync(`${file}.pub`, 'utf8'))
      t.match(printed(`${file}.pub`), /^SHA256:[A-Za-z0-9+/]{43}$/)
      t.equal(fingerprintOf(key), printed(`${file}.pub`), `${type} ${bits ?? ''}`)
    }
  },
)

t.test('the pinning decision', async (t) => {
  const web1 = parsePublicKeyLine(WEB1.line)
  const policy = { hostFile: 'hosts/web1.yaml' }
  t.equal(
    checkHostKey('web1', web1, { ...policy, pinned: WEB1.line }),
    undefined,
    'pinned and presented',
  )

  const changed = checkHostKey('web1', web1, { ...policy, pinned: OTHER.line })!
  t.equal(
    changed.message,
    `web1 presented host key ${WEB1.fingerprint}, but hosts/web1.yaml pins ${OTHER.fingerprint}`,
  )
  t.equal(changed.exitCode, 3)
  t.match(changed.hint, /reinstalled .* intercepting/)
  const overridden = checkHostKey('web1', web1, {
    ...policy,
    pinned: OTHER.line,
    accept: WEB1.fingerprint,
  })
  t.equal(overridden?.exitCode, 3, 'a pin wins over --accept-host-key')

  const unpinned = checkHostKey('web1', web1, { ...policy, pinned: null })!
  t.equal(
    unpinned.message,
    `web1's host key is not pinned: it presented ssh-ed25519 ${WEB1.fingerprint}`,
  )
  t.equal(unpinned.exitCode, 1)
  t.equal(
    unpinned.hint,
    `compare it with \`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\` on web1's console, then run again with --accept-host-key ${WEB1.fingerprint}`,
  )
  t.equal(checkHostKey('web1', web1, { pinned: null, accept: WEB1.fingerprint }), undefined)
  t.equal(checkHostKey('web1', web1, { pinned: null, accept: ` ${WEB1.fingerprint}= ` }), undefined)
  const wrong = checkHostKey('web1', web1, { pinned: null, accept: OTHER.fingerprint })!
  t.equal(
    wrong.message,
    `web1 presented host key ${WEB1.fingerprint}, not the ${OTHER.fingerprint} given to --accept-host-key`,
  )
  t.equal(wrong.exitCode, 3)

  const rsa = publicKeyOfBlob(
    Buffer.concat([Buffer.from([0, 0, 0, 7]), Buffer.from('ssh-rsa'), Buffer.alloc(8)]),
  )
  t.match(checkHostKey('web1', rsa, { pinned: null })?.hint, '/etc/ssh/ssh_host_rsa_key.pub')

  const missing = pinnedKeyMissing('web1', { ...policy, pinned: OTHER.line })
  t.equal(
    missing.message,
    `web1 offered no ssh-ed25519 host key, but hosts/web1.yaml pins ${OTHER.fingerprint}`,
  )
  t.equal(missing.exitCode, 3)
})

t.test('--accept-host-key takes the SHA256 fingerprint only', async (t) => {
  t.equal(parseFingerprint(WEB1.fingerprint + '='), WEB1.fingerprint)
  for (const text of [
    '',
    'b1Y8Ef4WvfbXSFO1hjgdvrBUemzPjU3cONlKCqopPyU',
    'MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48',
  ]) {
    const error = refusal(() => parseFingerprint(text))
    t.equal(error.exitCode, 2)
    t.match(
      error.message,
      /^--accept-host-key: expected a SHA256:… fingerprint as ssh-keygen -lf prints it, got `/,
    )
  }
})
