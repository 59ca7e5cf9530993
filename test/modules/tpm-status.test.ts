import { execFile } from 'node:child_process'
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { needs } from '../helpers/needs.js'
import { startSwtpm } from '../helpers/swtpm.js'

// modules/tpm/keystone-tpm-status.sh, the script the tpm module installs on every host, run
// against a real LUKS2 header (cryptsetup on a file), real systemd-cryptenroll enrollments bound to
// a real swtpm, and a sysfs tree laid out as the kernel lays it out.
const run = promisify(execFile)
const script = path.resolve(import.meta.dirname, '../../modules/tpm/keystone-tpm-status.sh')
const efiGlobal = '8be4df61-93ca-11d2-aa0d-00e098032b8c'

const skip =
  needs('cryptsetup', ['--version']) ||
  needs('systemd-cryptenroll', ['--version']) ||
  needs('swtpm', ['--version']) ||
  needs('jq', ['--version'])

interface Status {
  tpm: { present: boolean; version: string | null }
  secureBoot: { enabled: boolean | null; setupMode: boolean | null }
  credstore: {
    present: boolean
    keyslots: { slot: number }[]
    tokens: { type: string; keyslots: number[]; pcrs: number[] | null }[]
    tpm2Enrolled: boolean
    recoveryKey: boolean
  }
  pcrs: { expected: number[]; sha256: Record<string, string> }
}

async function status(env: Record<string, string>): Promise<Status> {
  const { stdout } = await run('bash', [script], { env: { ...process.env, ...env } })
  return JSON.parse(stdout) as Status
}

t.test(
  'keystone-tpm-status reports the TPM, Secure Boot, LUKS tokens and PCRs',
  { skip },
  async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'keystone-tpm-status-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    const volume = path.join(dir, 'credstore.img')
    const passphrase = path.join(dir, 'passphrase')
    await writeFile(volume, Buffer.alloc(32 * 2 ** 20))
    await writeFile(passphrase, 'first-boot-passphrase')
    await chmod(passphrase, 0o600)
    // Cheap key derivation: the test is about slots and tokens, not about brute-force cost.
    await run('cryptsetup', [
      'luksFormat',
      '--type',
      'luks2',
      '--batch-mode',
      '--pbkdf',
      'pbkdf2',
      '--pbkdf-force-iterations',
      '1000',
      '--key-file',
      passphrase,
      volume,
    ])

    // The sysfs a TPM 2.0 machine with Secure Boot enabled presents.
    const sysfs = path.join(dir, 'sys')
    const tpm = path.join(sysfs, 'class/tpm/tpm0')
    await mkdir(path.join(tpm, 'pcr-sha256'), { recursive: true })
    await writeFile(path.join(tpm, 'tpm_version_major'), '2\n')
    await writeFile(path.join(tpm, 'pcr-sha256/7'), 'A1B2C3\n')
    const efivars = path.join(sysfs, 'firmware/efi/efivars')
    await mkdir(efivars, { recursive: true })
    await writeFile(path.join(efivars, `SecureBoot-${efiGlobal}`), Buffer.from([6, 0, 0, 0, 1]))
    await writeFile(path.join(efivars, `SetupMode-${efiGlobal}`), Buffer.from([6, 0, 0, 0, 0]))
    const env = { KEYSTONE_SYSFS: sysfs, KEYSTONE_CREDSTORE: volume, KEYSTONE_TPM_PCRS: '1+7' }

    const before = await status(env)
    t.same(before.tpm, { present: true, version: '2.0', device: '/dev/tpmrm0' })
    t.same(before.secureBoot, { enabled: true, setupMode: false })
    t.equal(before.credstore.present, true)
    t.same(
      before.credstore.keyslots.map((k) => k.slot),
      [0],
      'only the first-boot passphrase',
    )
    t.equal(before.credstore.tpm2Enrolled, false)
    t.equal(before.credstore.recoveryKey, false)
    t.same(before.pcrs, { expected: [1, 7], sha256: { '7': 'a1b2c3' } })

    // Enroll as `keystone enroll` will: a recovery key, then the TPM with PCRs 1+7, wiping the
    // passphrase.
    const swtpm = await startSwtpm()
    t.teardown(swtpm.stop)
    const { stdout: recovery } = await run('systemd-cryptenroll', [
      '--recovery-key',
      `--unlock-key-file=${passphrase}`,
      volume,
    ])
    const recoveryKey = recovery.match(/[a-z]{8}(?:-[a-z]{8}){7}/)?.[0]
    t.ok(recoveryKey, 'systemd-cryptenroll printed a recovery key')
    await run('systemd-cryptenroll', [
      `--tpm2-device=${swtpm.tcti}`,
      '--tpm2-pcrs=1+7',
      '--wipe-slot=password',
      `--unlock-key-file=${passphrase}`,
      volume,
    ])

    const after = await status(env)
    t.equal(after.credstore.tpm2Enrolled, true)
    t.equal(after.credstore.recoveryKey, true)
    t.same(
      after.credstore.keyslots.map((k) => k.slot),
      [1, 2],
      'the passphrase slot is gone',
    )
    t.same(
      after.credstore.tokens.map((token) => [token.type, token.keyslots, token.pcrs]),
      [
        ['systemd-recovery', [1], null],
        ['systemd-tpm2', [2], [1, 7]],
      ],
    )

    // The recovery key opens the volume; the wiped passphrase no longer does.
    const keyFile = path.join(dir, 'recovery')
    await writeFile(keyFile, recoveryKey ?? '')
    await t.resolves(
      run('cryptsetup', ['open', '--test-passphrase', '--key-file', keyFile, volume]),
    )
    await t.rejects(
      run('cryptsetup', ['open', '--test-passphrase', '--key-file', passphrase, volume]),
    )
  },
)

t.test('keystone-tpm-status on a machine without TPM, UEFI or credstore', { skip }, async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'keystone-tpm-status-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const result = await status({
    KEYSTONE_SYSFS: dir,
    KEYSTONE_CREDSTORE: path.join(dir, 'missing'),
    KEYSTONE_TPM_PCRS: '7',
  })
  t.same(result.tpm, { present: false, version: null, device: null })
  t.same(result.secureBoot, { enabled: null, setupMode: null })
  t.equal(result.credstore.present, false)
  t.equal(result.credstore.tpm2Enrolled, false)
  t.same(result.pcrs, { expected: [7], sha256: {} })
})

t.test('keystone-tpm-status refuses to run without a credstore path', { skip }, async (t) => {
  await t.rejects(
    run('bash', [script], { env: { PATH: process.env.PATH ?? '' } }),
    /KEYSTONE_CREDSTORE names the credstore volume/,
  )
})
