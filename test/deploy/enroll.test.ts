import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { deployFixture } from '../helpers/deploy-fixture.js'
import { needs } from '../helpers/needs.js'
import { needsSshd } from '../helpers/sshd.js'
import { startSwtpm } from '../helpers/swtpm.js'
import { freeTpmSessions, unlocksWithTpm } from '../helpers/tpm-token-unlock.js'

// `keystone enroll` for real: over a real sshd on loopback, systemd-cryptenroll binds a LUKS2
// credstore in a file to a real swtpm (PCRs 1+7). The firmware's Secure Boot state comes from
// stand-ins for bootctl and sbctl (test/fixtures/keystone-host-tools): no UEFI here.
const exec = promisify(execFile)
const skip =
  needsSshd() ||
  needs('swtpm', ['--version']) ||
  needs('tpm2_pcrread', ['--version']) ||
  needs('systemd-cryptenroll', ['--version']) ||
  needs('cryptsetup', ['--version'])

const PASSPHRASE = 'cbdefghi-jklnrtuv-cbdefghi-jklnrtuv-cbdefghi-jklnrtuv-cbdefghi-jklnrtuv'

async function enrollFixture(t: Test, options: { secureBoot?: string; passphrase?: string } = {}) {
  const tpm = await startSwtpm()
  t.teardown(tpm.stop)
  const tcti = tpm.tcti
  // What the firmware would have measured before the OS: PCRs 1 and 7 are not zero on a real machine.
  for (const pcr of [1, 7]) await exec('tpm2_pcrextend', ['-T', tcti, `${pcr}:sha256=${createHash('sha256').update(`firmware ${pcr}`).digest('hex')}`])
  const f = await deployFixture(t, 'desk1')
  // What bootctl reports on the stand-in host (test/fixtures/keystone-host-tools/bootctl).
  await writeFile(path.join(f.state, 'secure-boot'), options.secureBoot ?? 'disabled (setup)')
  const luks = path.join(f.state, 'credstore.img')
  await exec('truncate', ['-s', '20M', luks])
  const keyFile = path.join(f.state, 'initial-key')
  await writeFile(keyFile, PASSPHRASE, { mode: 0o600 })
  await exec('cryptsetup', ['luksFormat', '--type', 'luks2', '--batch-mode', '--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000', '--key-file', keyFile, luks])
  t.equal((await f.run(['secrets', 'set', 'desk1/credstore-passphrase', '--kind', 'passphrase'], { stdin: options.passphrase ?? PASSPHRASE })).code, 0)
  const enroll = (extra: string[] = []) =>
    f.run(['enroll', 'desk1', '--ssh-key', f.sshd.clientKeyFile, '--identity', f.key, '--credstore-device', luks, '--tpm2-device', tcti, ...extra])
  const header = async () => (await exec('cryptsetup', ['luksDump', '--dump-json-metadata', luks])).stdout
  const opens = (key: string) =>
    new Promise<boolean>((resolve) =>
      execFile('cryptsetup', ['open', '--test-passphrase', '--key-file=-', luks], (error) => resolve(error === null)).stdin!.end(key),
    )
  return { ...f, tcti, luks, enroll, header, opens }
}

t.test('enroll: Secure Boot keys, then a recovery key in the vault and the TPM on PCRs 1+7; the passphrase is gone', { skip }, async (t) => {
  const f = await enrollFixture(t)
  const result = await f.enroll()
  t.equal(result.code, 0, result.stderr)
  t.match(result.stdout.toString(), 'the firmware is in setup mode; enrolling the host’s keys')
  t.match(result.stdout.toString(), '✓ Secure Boot: enabled (user)')
  t.match(await readFile(f.hostRecord, 'utf8'), /^sbctl enroll-keys --microsoft\nsystemctl reboot$/m)

  const header = JSON.parse(await f.header()) as { keyslots: Record<string, unknown>; tokens: Record<string, { type: string; 'tpm2-pcrs'?: number[] }> }
  const types = Object.values(header.tokens).map((token) => token.type).sort()
  t.same(types, ['systemd-recovery', 'systemd-tpm2'])
  t.same(Object.values(header.tokens).find((token) => token.type === 'systemd-tpm2')!['tpm2-pcrs'], [1, 7])
  t.equal(Object.keys(header.keyslots).length, 2, 'no passphrase slot left')

  const recovery = await f.get('desk1/recovery-key')
  t.match(recovery, /^[a-z]{8}(-[a-z]{8}){7}$/)
  t.ok(await f.opens(recovery), 'the recovery key from the vault opens the credstore')
  t.notOk(await f.opens(PASSPHRASE), 'the initial passphrase no longer does')
  t.ok(await unlocksWithTpm(f.luks, f.tcti), 'the TPM opens it with PCRs as enrolled')

  const record = JSON.parse(await readFile(path.join(f.fleet, 'hosts/desk1/enrollment.json'), 'utf8')) as { pcrs: Record<string, string>; secureBoot: string; pcrBank: string }
  const { stdout: pcrread } = await exec('tpm2_pcrread', ['-T', f.tcti, 'sha256:1,7'])
  t.equal(record.pcrs['7'], /7 : 0x([0-9A-F]{64})/.exec(pcrread)![1]!.toLowerCase())
  t.same([record.pcrBank, record.secureBoot], ['sha256', 'enabled (user)'])

  // Idempotent: the second run reports and changes nothing.
  const before = [await f.header(), await readFile(path.join(f.fleet, 'hosts/desk1/enrollment.json'), 'utf8')]
  const again = await f.enroll()
  t.equal(again.code, 0, again.stderr)
  t.match(again.stdout.toString(), 'Secure Boot: enabled (user) (already enrolled)')
  t.match(again.stdout.toString(), 'desk1 is already enrolled')
  t.same([await f.header(), await readFile(path.join(f.fleet, 'hosts/desk1/enrollment.json'), 'utf8')], before)

  // A changed boot chain (PCR 7 extended): the TPM no longer releases the key; the recovery key still works.
  await exec('tpm2_pcrextend', ['-T', f.tcti, `7:sha256=${createHash('sha256').update('another db').digest('hex')}`])
  t.notOk(await unlocksWithTpm(f.luks, f.tcti), 'the TPM refuses after PCR 7 changed')
  t.ok(await f.opens(recovery))

  // Enroll again: the record says the slot was sealed to another PCR 7, so it is sealed again to
  // the value of now (unlocked by the recovery key, the passphrase being gone); one TPM slot left.
  await freeTpmSessions(f.tcti)
  const rebound = await f.enroll()
  t.equal(rebound.code, 0, rebound.stderr)
  t.match(rebound.stdout.toString(), "re-bound the credstore's TPM slot to the values of PCR 7 now")
  t.ok(await unlocksWithTpm(f.luks, f.tcti), 'the TPM opens it again')
  const tokens = Object.values((JSON.parse(await f.header()) as { tokens: Record<string, { type: string }> }).tokens)
  t.same(tokens.map((token) => token.type).sort(), ['systemd-recovery', 'systemd-tpm2'], 'the stale TPM slot is gone')
  const { stdout: moved } = await exec('tpm2_pcrread', ['-T', f.tcti, 'sha256:7'])
  const rerecorded = JSON.parse(await readFile(path.join(f.fleet, 'hosts/desk1/enrollment.json'), 'utf8')) as { pcrs: Record<string, string> }
  t.equal(rerecorded.pcrs['7'], /7 : 0x([0-9A-F]{64})/.exec(moved)![1]!.toLowerCase(), 'the record holds the value of now')
  t.ok(await f.opens(recovery), 'the recovery key is kept')
  t.match((await f.enroll()).stdout.toString(), 'desk1 is already enrolled')
})

t.test('enroll --dry-run reads the host and prints the plan (--json as data); nothing changes', { skip }, async (t) => {
  const f = await enrollFixture(t)
  const header = await f.header()
  const shown = await f.enroll(['--dry-run'])
  t.equal(shown.code, 0, shown.stderr)
  const text = shown.stdout.toString()
  t.match(text, /^desk1: enroll would$/m)
  t.match(text, /^ {2}Secure Boot: the firmware is in setup mode; enrolling the host’s keys/m)
  t.match(text, /^ {4}sbctl enroll-keys --microsoft$/m)
  t.match(text, new RegExp(`^  TPM: creating the recovery key: systemd-cryptenroll ${f.luks} --recovery-key \\(unlocked with the vault's passphrase; the new key goes to desk1/recovery-key\\)$`, 'm'))
  t.match(text, /^ {2}TPM: enrolling the TPM: systemd-cryptenroll \S+ '?--tpm2-device=[^ ]+'? --tpm2-pcrs=1\+7 --wipe-slot=password /m)
  t.match(text, /nothing was changed \(--dry-run\)/)

  const json = await f.enroll(['--dry-run', '--json'])
  t.equal(json.code, 0, json.stderr)
  const plan = JSON.parse(json.stdout.toString()) as {
    dryRun: boolean
    secureBoot: { action: string; commands: string[] }
    tpm: { enable: boolean; pcrs: Record<string, string>; steps: { savesRecoveryKey: boolean }[] }
  }
  t.equal(plan.dryRun, true)
  t.same([plan.secureBoot.action, plan.secureBoot.commands], ['enroll-keys', ['sbctl enroll-keys --microsoft']])
  t.same(plan.tpm.steps.map((s) => s.savesRecoveryKey), [true, false])
  const { stdout: pcrread } = await exec('tpm2_pcrread', ['-T', f.tcti, 'sha256:1,7'])
  t.equal(plan.tpm.pcrs['7'], /7 : 0x([0-9A-F]{64})/.exec(pcrread)![1]!.toLowerCase(), 'the PCRs as the TPM holds them')

  t.equal(await f.header(), header, 'the LUKS header is unchanged')
  t.ok(await f.opens(PASSPHRASE), 'the initial passphrase still opens it')
  t.notOk(existsSync(f.hostRecord) && (await readFile(f.hostRecord, 'utf8')).trim() !== '', 'nothing ran on the host')
  t.notOk(existsSync(path.join(f.fleet, 'secrets/desk1/recovery-key.age')), 'no recovery key in the vault')
  t.notOk(existsSync(path.join(f.fleet, 'hosts/desk1/enrollment.json')), 'no enrollment record')

  const real = await f.enroll()
  t.equal(real.code, 0, real.stderr)
  await writeFile(path.join(f.state, 'secure-boot'), 'enabled (user)')
  const after = await f.enroll(['--dry-run'])
  t.equal(after.code, 0, after.stderr)
  t.match(after.stdout.toString(), /^ {2}TPM: nothing \(already enrolled on PCRs 1\+7\)$/m)
})

t.test('a recovery slot left by an interrupted run is replaced by one the vault holds', { skip }, async (t) => {
  const f = await enrollFixture(t, { secureBoot: 'enabled (user)' })
  const keyFile = path.join(f.state, 'initial-key')
  await exec('systemd-cryptenroll', [f.luks, '--recovery-key', `--unlock-key-file=${keyFile}`])
  const result = await f.enroll()
  t.equal(result.code, 0, result.stderr)
  t.match(result.stdout.toString(), 'wiped a recovery key the vault did not have')
  const header = JSON.parse(await f.header()) as { tokens: Record<string, { type: string }> }
  t.equal(Object.values(header.tokens).filter((token) => token.type === 'systemd-recovery').length, 1)
  t.ok(await f.opens(await f.get('desk1/recovery-key')))
})

t.test('a wrong passphrase in the vault, or no TPM, is one line and leaves the header as it was', { skip }, async (t) => {
  const f = await enrollFixture(t, { secureBoot: 'enabled (user)', passphrase: 'not-the-passphrase' })
  const before = await f.header()
  const wrong = await f.enroll()
  t.equal(wrong.code, 1)
  t.match(wrong.stderr, /^keystone: the vault's credstore passphrase does not open the credstore on root@desk1/m)
  t.equal(await f.header(), before)

  const noTpm = await f.run(['enroll', 'desk1', '--ssh-key', f.sshd.clientKeyFile, '--identity', f.key, '--credstore-device', f.luks, '--tpm2-device', 'swtpm:host=127.0.0.1,port=1'])
  t.equal(noTpm.code, 1)
  t.match(noTpm.stderr, /^keystone: no TPM 2\.0 reachable on desk1/m)
  t.notMatch(noTpm.stderr, /\n\s+at /)
  t.equal(await f.header(), before)
})

t.test('Secure Boot off outside setup mode is refused with the way out', { skip }, async (t) => {
  const f = await enrollFixture(t, { secureBoot: 'disabled (disabled)' })
  const before = await f.header()
  const result = await f.enroll()
  t.equal(result.code, 1)
  t.match(result.stderr, /keystone: desk1: Secure Boot is disabled and the firmware is not in setup mode: .*reset the Secure Boot keys to setup mode/)
  t.equal(await f.header(), before)
})
