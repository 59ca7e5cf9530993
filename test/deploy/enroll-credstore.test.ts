import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, open, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import {
  enrollCredstore,
  planCredstoreEnrollment,
  withUnlockKeyFromStdin,
  type CredstoreEnrollInput,
} from '../../cli/deploy/enroll-credstore.js'
import type { RemoteShell } from '../../cli/deploy/remote-shell.js'
import { UserError } from '../../cli/errors.js'
import { localShell } from '../helpers/local-shell.js'
import { needs } from '../helpers/needs.js'
import { startSwtpm } from '../helpers/swtpm.js'
import { openWithTpmToken } from '../helpers/tpm-token-unlock.js'

// The credstore enrollment for real: a LUKS2 header in a file (cryptsetup luksFormat), a real
// swtpm, systemd 252's systemd-cryptenroll and its systemd-tpm2 token plugin, run through the
// RemoteShell contract on this machine. Every command the steps ran is recorded.
const exec = promisify(execFile)
const skip =
  needs('swtpm', ['--version']) ||
  needs('tpm2_pcrextend', ['--version']) ||
  needs('systemd-cryptenroll', ['--version']) ||
  needs('cryptsetup', ['--version']) ||
  needs('unshare', ['--version']) ||
  needs('gcc', ['--version'])

const RECOVERY_KEY = /^[a-z]{8}(-[a-z]{8}){7}$/

function run(file: string, args: string[], stdin = '') {
  return new Promise<{ code: number; output: string }>((resolve) =>
    execFile(file, args, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : Number(error.code ?? 1), output: stdout + stderr }),
    ).stdin!.end(stdin),
  )
}

const extend = (tcti: string, pcr: number, event: string) =>
  exec('tpm2_pcrextend', [
    '-T',
    tcti,
    `${pcr}:sha256=${createHash('sha256').update(event).digest('hex')}`,
  ])

async function credstoreFixture(t: Test) {
  const tmpBefore = new Set(await readdir(tmpdir()))
  const dir = await mkdtemp(path.join(tmpdir(), 'keystone-enroll-credstore-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const tpm = await startSwtpm()
  t.teardown(tpm.stop)
  // What the firmware measured before the OS: PCRs 1 and 7 are not zero on a real machine.
  for (const pcr of [1, 7]) await extend(tpm.tcti, pcr, `firmware ${pcr}`)

  const device = path.join(dir, 'credstore.img')
  await exec('truncate', ['-s', '20M', device])
  const passphrase = randomBytes(24).toString('base64url')
  // Cheap key derivation: the test is about slots and tokens, not brute-force cost.
  const format = ['luksFormat', '--type', 'luks2', '--batch-mode', '--pbkdf', 'pbkdf2']
  const formatted = await run(
    'cryptsetup',
    [...format, '--pbkdf-force-iterations', '1000', '--key-file=-', device],
    passphrase,
  )
  t.equal(formatted.code, 0, 'a LUKS2 credstore in a file', { output: formatted.output })

  const commands: string[] = []
  const local = localShell()
  const shell: RemoteShell = {
    description: 'the test host',
    run: (command, options) => {
      commands.push(command)
      return local.run(command, options)
    },
  }
  const vault: { recoveryKey?: string } = {}
  const input = (overrides: Partial<CredstoreEnrollInput> = {}): CredstoreEnrollInput => ({
    shell,
    device,
    tpm2Device: tpm.tcti,
    pcrs: [1, 7],
    unlockPassphrase: async () => passphrase,
    hasSavedRecoveryKey: async () => vault.recoveryKey !== undefined,
    saveRecoveryKey: async (key) => {
      vault.recoveryKey = key
    },
    readRecoveryKey: async () => vault.recoveryKey!,
    ...overrides,
  })
  const metadata = async () =>
    JSON.parse((await exec('cryptsetup', ['luksDump', '--dump-json-metadata', device])).stdout) as {
      keyslots: Record<string, unknown>
      tokens: Record<string, { type: string; keyslots: string[]; 'tpm2-pcrs'?: number[] }>
    }
  // The whole LUKS2 header area (both binary headers, JSON and keyslots: 16 MiB by default).
  const headerHash = async () => {
    const file = await open(device)
    try {
      const header = Buffer.alloc(16 * 2 ** 20)
      await file.read(header, 0, header.length, 0)
      return createHash('sha256').update(header).digest('hex')
    } finally {
      await file.close()
    }
  }
  const opens = async (key: string) =>
    (await run('cryptsetup', ['open', '--test-passphrase', '--key-file=-', device], key)).code === 0
  // Files made since the fixture started, in /tmp (the test's own directory included) and in
  // /run/keystone-*, where the unlock key's directory lives while a step runs.
  const newFiles = async () => {
    const roots = [
      ...(await readdir(tmpdir()))
        .filter((entry) => !tmpBefore.has(entry))
        .map((entry) => path.join(tmpdir(), entry)),
      ...(await readdir('/run'))
        .filter((entry) => entry.startsWith('keystone-'))
        .map((entry) => path.join('/run', entry)),
    ]
    const files: string[] = []
    for (const root of roots) {
      // Other tests come and go in /tmp meanwhile.
      const info = await stat(root).catch(() => undefined)
      if (info?.isFile()) files.push(root)
      else if (info?.isDirectory())
        for (const entry of await readdir(root, { recursive: true, withFileTypes: true }).catch(
          () => [],
        ))
          if (entry.isFile()) files.push(path.join(entry.parentPath, entry.name))
    }
    return files
  }
  return {
    tpm,
    dir,
    device,
    passphrase,
    vault,
    commands,
    input,
    metadata,
    headerHash,
    opens,
    newFiles,
    tpmOpens: () => openWithTpmToken(device, tpm.tcti, dir),
  }
}

t.test(
  'enroll: a recovery key into the vault, the TPM on PCRs 1+7, the passphrase wiped; the TPM opens it until PCR 7 changes',
  { skip },
  async (t) => {
    const f = await credstoreFixture(t)
    const result = await enrollCredstore(f.input())
    t.equal(result.alreadyEnrolled, false)
    t.same(result.steps, [
      'created a recovery key and stored it in the vault',
      'bound the credstore to the TPM (PCRs 1+7) and wiped the initial passphrase',
    ])

    const header = await f.metadata()
    const tokens = Object.values(header.tokens)
    t.same(tokens.map((token) => token.type).sort(), ['systemd-recovery', 'systemd-tpm2'])
    t.same(tokens.find((token) => token.type === 'systemd-tpm2')!['tpm2-pcrs'], [1, 7])
    t.same(Object.keys(header.keyslots).sort(), tokens.flatMap((token) => token.keyslots).sort())
    t.same(result.status.passwordKeyslots, [], 'no passphrase slot left')

    const recoveryKey = f.vault.recoveryKey ?? ''
    t.match(recoveryKey, RECOVERY_KEY, 'the vault holds the recovery key')
    t.ok(await f.opens(recoveryKey), 'the recovery key opens the credstore')
    t.notOk(await f.opens(f.passphrase), 'the initial passphrase no longer does')

    // systemd's token plugin, as the initrd runs it: the TPM releases the key for PCRs as enrolled…
    const unlocked = await f.tpmOpens()
    t.ok(unlocked.opened, 'the TPM opens it with PCRs as enrolled', { output: unlocked.output })
    // …and not after the Secure Boot state (PCR 7) changed; the recovery key still works.
    await extend(f.tpm.tcti, 7, 'another db')
    const refused = await f.tpmOpens()
    t.notOk(refused.opened, 'the TPM refuses after PCR 7 changed')
    // src/shared/tpm2-util.c of systemd 252, before it asks the TPM to unseal.
    t.match(refused.output, 'Current policy digest does not match stored policy digest')
    t.ok(await f.opens(recoveryKey))

    // Neither secret was ever in a command line, nor is it in any file left behind.
    t.ok(f.commands.some((command) => command.includes('systemd-cryptenroll')))
    for (const command of f.commands) {
      t.notOk(command.includes(f.passphrase), 'no passphrase in a command line')
      t.notOk(command.includes(recoveryKey), 'no recovery key in a command line')
      t.notOk(/PASSWORD=/.test(command), 'no passphrase in an environment variable')
    }
    t.same(
      (await readdir('/run')).filter((entry) => entry.startsWith('keystone-enroll.')),
      [],
      'the unlock key directories are gone',
    )
    const files = await f.newFiles()
    t.ok(files.includes(f.device), `${files.length} new files searched, the credstore among them`)
    for (const file of files) {
      const content = await readFile(file).catch(() => Buffer.alloc(0))
      t.notOk(content.includes(f.passphrase), `${file} holds no passphrase`)
      t.notOk(content.includes(recoveryKey), `${file} holds no recovery key`)
    }
  },
)

t.test(
  'a second run reports the credstore enrolled and leaves the header byte-identical',
  { skip },
  async (t) => {
    const f = await credstoreFixture(t)
    await enrollCredstore(f.input())
    const before = await f.headerHash()
    const commandsBefore = f.commands.length
    const again = await enrollCredstore(f.input())
    t.equal(again.alreadyEnrolled, true)
    t.same(again.steps, [])
    t.equal(await f.headerHash(), before)
    t.same(
      f.commands.slice(commandsBefore).map((command) => command.split(' ').slice(0, 2).join(' ')),
      ['cryptsetup luksDump'],
      'only read the header',
    )
  },
)

t.test(
  'an interrupted run (a recovery slot whose key never reached the vault) is replaced by one the vault holds',
  { skip },
  async (t) => {
    const f = await credstoreFixture(t)
    let lostKey = ''
    const failed = enrollCredstore(
      f.input({
        saveRecoveryKey: async (key) => {
          lostKey = key
          throw new UserError('the vault could not be written')
        },
      }),
    )
    await t.rejects(failed, { message: 'the vault could not be written' })
    t.match(lostKey, RECOVERY_KEY)
    t.equal(f.vault.recoveryKey, undefined)
    t.ok(await f.opens(f.passphrase), 'the passphrase still opens it: the TPM step never ran')

    const result = await enrollCredstore(f.input())
    t.same(result.steps, [
      'wiped a recovery key the vault did not have (left by an interrupted run) and stored a new one in the vault',
      'bound the credstore to the TPM (PCRs 1+7) and wiped the initial passphrase',
    ])
    const recovery = Object.values((await f.metadata()).tokens).filter(
      (token) => token.type === 'systemd-recovery',
    )
    t.equal(recovery.length, 1, 'one recovery slot')
    t.ok(await f.opens(f.vault.recoveryKey ?? ''), 'the vault’s recovery key opens it')
    t.notOk(await f.opens(lostKey), 'the lost one no longer does')
  },
)

t.test('a wrong passphrase in the vault is one line and changes nothing', { skip }, async (t) => {
  const f = await credstoreFixture(t)
  const before = await f.headerHash()
  const wrong = enrollCredstore(f.input({ unlockPassphrase: async () => 'not-the-passphrase' }))
  await t.rejects(wrong, {
    name: 'UserError',
    exitCode: 1,
    message: "the vault's credstore passphrase does not open the credstore on the test host",
  })
  t.equal(await f.headerHash(), before)
  t.equal(f.vault.recoveryKey, undefined)
})

t.test(
  'no TPM (a closed port, then swtpm stopped) is one line and changes nothing',
  { skip },
  async (t) => {
    const f = await credstoreFixture(t)
    const before = await f.headerHash()
    const closedPort = enrollCredstore(f.input({ tpm2Device: 'swtpm:host=127.0.0.1,port=1' }))
    await t.rejects(closedPort, {
      name: 'UserError',
      message: 'no TPM 2.0 reachable on the test host',
      hint: /Failed to initialize TCTI context.*nothing was changed/,
    })
    await f.tpm.stop()
    await t.rejects(enrollCredstore(f.input()), {
      message: 'no TPM 2.0 reachable on the test host',
    })
    t.equal(await f.headerHash(), before)
    t.equal(f.vault.recoveryKey, undefined, 'no recovery key was made')
    t.ok(await f.opens(f.passphrase))
  },
)

t.test(
  'other PCRs in the host file: the TPM slot is re-bound with the vault’s recovery key, or refused without it',
  { skip },
  async (t) => {
    const f = await credstoreFixture(t)
    await enrollCredstore(f.input())
    const recoveryKey = f.vault.recoveryKey!
    const before = await f.headerHash()
    await t.rejects(enrollCredstore(f.input({ pcrs: [7], readRecoveryKey: undefined })), {
      message:
        're-binding the credstore on the test host to PCRs 7 needs its recovery key: the passphrase slot is gone',
    })
    t.equal(await f.headerHash(), before, 'refused before any change')

    // Each systemd TPM operation leaves a session on a TPM without resource manager (TCP).
    await exec('tpm2_flushcontext', ['-T', f.tpm.tcti, '-t', '-l', '-s'])
    const result = await enrollCredstore(f.input({ pcrs: [7] }))
    t.same(result.steps, ["re-bound the credstore's TPM slot from PCRs 1+7 to PCRs 7"])
    const tpm2 = Object.values((await f.metadata()).tokens).filter(
      (token) => token.type === 'systemd-tpm2',
    )
    t.same(
      tpm2.map((token) => token['tpm2-pcrs']),
      [[7]],
      'one TPM2 slot, on PCR 7',
    )
    t.equal(f.vault.recoveryKey, recoveryKey, 'the recovery key is kept')
    t.ok(await f.opens(recoveryKey))
    const unlocked = await f.tpmOpens()
    t.ok(unlocked.opened, 'the TPM opens it on PCR 7 alone', { output: unlocked.output })
    t.equal((await enrollCredstore(f.input({ pcrs: [7] }))).alreadyEnrolled, true)
  },
)

t.test(
  'the unlock key reaches the command through a private tmpfs that is gone afterwards',
  { skip: needs('unshare', ['--version']) },
  async (t) => {
    const secret = randomBytes(16).toString('hex')
    // The command gets `--unlock-key-file=<path>` appended: report where that file lives.
    const probe = `sh -c 'f=\${0#--unlock-key-file=}; stat -f -c %T "$f"; cat "$f"'`
    const result = await localShell().run(withUnlockKeyFromStdin(probe), { stdin: secret })
    t.equal(result.code, 0, result.stderr)
    t.equal(result.stdout, `tmpfs\n${secret}`)
    t.notOk(withUnlockKeyFromStdin(probe).includes(secret))
    t.same(
      (await readdir('/run')).filter((entry) => entry.startsWith('keystone-enroll.')),
      [],
    )
  },
)

t.test('the plan as data: what each header state leads to', async (t) => {
  const want = { tpm2Device: 'auto', pcrs: [7, 1], canReadRecoveryKey: true, target: 'web1' }
  const fresh = { tpm2: null, recoveryKeyslot: null, passwordKeyslots: ['0'] }
  const args = (plan: ReturnType<typeof planCredstoreEnrollment>) =>
    plan.alreadyEnrolled ? 'already' : plan.steps.map((step) => [step.unlockWith, ...step.args])

  t.same(args(planCredstoreEnrollment(fresh, { ...want, hasSavedRecoveryKey: false })), [
    ['passphrase', '--recovery-key'],
    ['passphrase', '--tpm2-device=auto', '--tpm2-pcrs=1+7', '--wipe-slot=password'],
  ])
  const interrupted = { ...fresh, recoveryKeyslot: '1' }
  t.same(args(planCredstoreEnrollment(interrupted, { ...want, hasSavedRecoveryKey: false })), [
    ['passphrase', '--recovery-key', '--wipe-slot=recovery'],
    ['passphrase', '--tpm2-device=auto', '--tpm2-pcrs=1+7', '--wipe-slot=password'],
  ])
  t.same(args(planCredstoreEnrollment(interrupted, { ...want, hasSavedRecoveryKey: true })), [
    ['passphrase', '--tpm2-device=auto', '--tpm2-pcrs=1+7', '--wipe-slot=password'],
  ])
  const enrolled = {
    tpm2: { pcrs: [1, 7], keyslot: '2' },
    recoveryKeyslot: '1',
    passwordKeyslots: [],
  }
  t.equal(
    args(planCredstoreEnrollment(enrolled, { ...want, hasSavedRecoveryKey: true })),
    'already',
  )
  t.same(
    args(planCredstoreEnrollment(enrolled, { ...want, pcrs: [7], hasSavedRecoveryKey: true })),
    [['recovery-key', '--tpm2-device=auto', '--tpm2-pcrs=7', '--wipe-slot=tpm2']],
  )
  t.same(
    args(planCredstoreEnrollment(enrolled, { ...want, hasSavedRecoveryKey: true, changedPcrs: [7] })),
    [['recovery-key', '--tpm2-device=auto', '--tpm2-pcrs=1+7', '--wipe-slot=tpm2']],
    'the same PCRs with other values: sealed again, the stale slot wiped',
  )
  t.same(
    args(planCredstoreEnrollment(fresh, { ...want, hasSavedRecoveryKey: false, changedPcrs: [7] })),
    [
      ['passphrase', '--recovery-key'],
      ['passphrase', '--tpm2-device=auto', '--tpm2-pcrs=1+7', '--wipe-slot=password'],
    ],
    'no TPM slot yet: nothing stale to wipe',
  )
  t.throws(
    () =>
      planCredstoreEnrollment(enrolled, {
        ...want,
        pcrs: [7],
        hasSavedRecoveryKey: true,
        canReadRecoveryKey: false,
      }),
    { message: /^re-binding the credstore on web1 to PCRs 7 needs its recovery key/ },
  )
  t.throws(() => planCredstoreEnrollment(enrolled, { ...want, hasSavedRecoveryKey: false }), {
    message:
      'the credstore on web1 has no passphrase slot left and the vault has no recovery key for it',
  })
  t.throws(
    () => planCredstoreEnrollment(fresh, { ...want, pcrs: [24], hasSavedRecoveryKey: false }),
    {
      message: 'tpm.pcrs: expected PCR indexes 0–23, got [24]',
    },
  )
})
