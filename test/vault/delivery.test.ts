import { execFile } from 'node:child_process'
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { needs } from '../helpers/needs.js'
import { startSwtpm } from '../helpers/swtpm.js'
import { vaultFixture } from '../helpers/vault-cli.js'
import { renderHostSecrets } from '../../cli/vault/render-host-secrets.js'
import { recipientOf } from '../../cli/vault/age.js'

// Delivery: the tree `keystone deploy` hands to nixos-anywhere --extra-files, and the TPM sealing
// a host applies afterwards (modules/secrets), with systemd-creds against a real swtpm.
const exec = promisify(execFile)
const skipAge = needs('age', ['--version'])

t.test(
  'a host gets exactly its secrets, root-only, key files without a trailing newline',
  { skip: skipAge },
  async (t) => {
    const { fleet, run } = await vaultFixture(t)
    const keyFile = path.join(fleet, 'alice.key')
    await exec('age-keygen', ['-o', keyFile])
    const secret = (await readFile(keyFile, 'utf8'))
      .split('\n')
      .find((line) => line.startsWith('AGE-SECRET-KEY-1'))!
    t.equal((await run(['secrets', 'init', '--admin', 'alice', '--identity', keyFile])).code, 0)
    const web1Key = path.join(fleet, 'web1.key')
    await exec('age-keygen', ['-o', web1Key])
    const { stdout: web1Recipient } = await exec('age-keygen', ['-y', web1Key])
    t.equal(
      (await run(['secrets', 'recipients', 'add', web1Recipient.trim(), '--host', 'web1'])).code,
      0,
    )

    const store = async (secretName: string, kind: string, value: string) =>
      t.equal(
        (await run(['secrets', 'set', secretName, '--kind', kind], { stdin: value })).code,
        0,
        secretName,
      )
    await store('fleet/s3-backup', 's3-credentials', '[default]\naws_access_key_id = AKIA\n')
    await store('web1/mesh-auth-key', 'token', 'tskey-auth-123\n')
    await store('web1/backup-passphrase', 'passphrase', 'typed with echo\n')
    // The deploy's own machinery (disk keys, host keys, the recovery key) never goes to the host.
    await store('web1/credstore-passphrase', 'passphrase', 'for the installer only\n')
    await store('desk1/mesh-auth-key', 'token', 'not for web1')

    const root = await mkdtemp(path.join(tmpdir(), 'keystone-extra-files-'))
    t.teardown(() => rm(root, { recursive: true, force: true }))
    const rendered = await renderHostSecrets({
      fleetRoot: fleet,
      host: 'web1',
      identity: { secret, recipient: await recipientOf(secret) },
      root,
    })
    t.same(
      rendered.map((r) => r.path),
      [
        '/var/lib/keystone/secrets/fleet/s3-backup',
        '/var/lib/keystone/secrets/backup-passphrase',
        '/var/lib/keystone/secrets/mesh-auth-key',
      ],
      'fleet secrets and its own, not another host’s',
    )
    const dir = path.join(root, 'var/lib/keystone/secrets')
    t.equal(
      await readFile(path.join(dir, 'mesh-auth-key'), 'utf8'),
      'tskey-auth-123',
      'no trailing newline on a token',
    )
    t.equal(
      await readFile(path.join(dir, 'backup-passphrase'), 'utf8'),
      'typed with echo',
      'nor on a passphrase',
    )
    t.equal(
      await readFile(path.join(dir, 'fleet/s3-backup'), 'utf8'),
      '[default]\naws_access_key_id = AKIA\n',
      'a config file is kept as it is',
    )
    for (const file of ['mesh-auth-key', 'backup-passphrase', 'fleet/s3-backup']) {
      const info = await stat(path.join(dir, file))
      t.equal(info.mode & 0o777, 0o400, `${file} is read-only for its owner`)
      if (process.getuid?.() === 0) t.equal(info.uid, 0, `${file} belongs to root`)
    }
    t.equal((await stat(dir)).mode & 0o777, 0o700, 'the directory is root-only')
    t.same((await readdir(dir)).sort(), ['backup-passphrase', 'fleet', 'mesh-auth-key'])

    // Rendering into a tree that already holds files refuses instead of mixing old and new.
    await t.rejects(
      renderHostSecrets({
        fleetRoot: fleet,
        host: 'web1',
        identity: { secret, recipient: await recipientOf(secret) },
        root,
      }),
      /EEXIST/,
    )
  },
)

const skipCreds = needs('systemd-creds', ['--version']) || needs('swtpm', ['--version'])

t.test(
  'a secret sealed with systemd-creds to one TPM opens only with that TPM',
  { skip: skipCreds },
  async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'keystone-creds-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    const tpm = await startSwtpm()
    t.teardown(tpm.stop)
    const other = await startSwtpm()
    t.teardown(other.stop)
    const plain = path.join(dir, 's3-backup')
    const sealed = `${plain}.cred`
    await writeFile(plain, 'AKIA:sealed-value', { mode: 0o400 })
    // As modules/secrets' keystone-seal-secrets does, with the TPM named explicitly.
    await exec('systemd-creds', [
      'encrypt',
      '--with-key=tpm2',
      `--tpm2-device=${tpm.tcti}`,
      '--name=s3-backup',
      plain,
      sealed,
    ])
    t.notMatch(await readFile(sealed, 'latin1'), /sealed-value/)
    const { stdout } = await exec('systemd-creds', [
      'decrypt',
      `--tpm2-device=${tpm.tcti}`,
      '--name=s3-backup',
      sealed,
      '-',
    ])
    t.equal(stdout, 'AKIA:sealed-value', 'the same TPM unseals it')
    await t.rejects(
      exec('systemd-creds', [
        'decrypt',
        `--tpm2-device=${other.tcti}`,
        '--name=s3-backup',
        sealed,
        '-',
      ]),
      'another TPM cannot',
    )
    await t.rejects(
      exec('systemd-creds', [
        'decrypt',
        `--tpm2-device=${tpm.tcti}`,
        '--name=other-name',
        sealed,
        '-',
      ]),
      'nor can a credential of another name be swapped in',
    )
  },
)
