import { UserError } from '../errors.js'
import {
  enrollmentProblems,
  pcrList,
  readCredstoreStatus,
  type CredstoreStatus,
} from './credstore-status.js'
import type { RemoteShell } from './remote-shell.js'
import { shellQuote } from './render-plan.js'

// Binds the credstore to the TPM in the order systemd-cryptenroll(1) of systemd 252 allows: a
// recovery key first, captured straight into the vault (every enrollment needs an unlock key,
// and 252 cannot unlock with the TPM: --unlock-tpm2-device came in 256); then a TPM2 slot on
// the host's PCRs whose --wipe-slot=password removes the initial passphrase (the slot being
// enrolled is never wiped); then the header is read back. Decide, then act: the plan is data.

export interface CredstoreEnrollInput {
  shell: RemoteShell
  // /dev/zvol/<pool>/credstore on a host; a LUKS2 file in tests.
  device: string
  // `auto` on a host; `swtpm:host=127.0.0.1,port=P` in tests.
  tpm2Device: string
  // From the host file, default [1, 7].
  pcrs: number[]
  // The initial credstore passphrase, from the vault.
  unlockPassphrase: () => Promise<string>
  // Whether the vault already holds this host's recovery key.
  hasSavedRecoveryKey: () => Promise<boolean>
  // PCRs whose value now differs from the one the TPM slot was sealed to (the enrollment
  // record's): the slot can no longer unseal, so it is sealed again to the values of now.
  changedPcrs?: number[]
  saveRecoveryKey: (key: string) => Promise<void>
  // The saved recovery key: once the passphrase slot is gone it is the only unlock key left,
  // needed to re-bind the TPM slot to other PCRs (systemd#35279). Without it that is refused.
  readRecoveryKey?: () => Promise<string>
}

export interface CredstoreEnrollResult {
  alreadyEnrolled: boolean
  status: CredstoreStatus
  // What was done, in words; never a secret.
  steps: string[]
}

type UnlockKey = 'passphrase' | 'recovery-key'

export interface CredstoreStep {
  // systemd-cryptenroll's arguments after the device; --unlock-key-file is added when it runs.
  args: string[]
  unlockWith: UnlockKey
  // The step prints a new recovery key on stdout, which goes to the vault and nowhere else.
  savesRecoveryKey: boolean
  what: string
  done: string
}

export type CredstorePlan =
  { alreadyEnrolled: true } | { alreadyEnrolled: false; steps: CredstoreStep[] }

export function planCredstoreEnrollment(
  status: CredstoreStatus,
  want: {
    tpm2Device: string
    pcrs: number[]
    hasSavedRecoveryKey: boolean
    canReadRecoveryKey: boolean
    target: string
    changedPcrs?: number[]
  },
): CredstorePlan {
  if (want.pcrs.length === 0 || !want.pcrs.every((n) => Number.isInteger(n) && n >= 0 && n <= 23))
    throw new UserError(`tpm.pcrs: expected PCR indexes 0–23, got [${want.pcrs.join(', ')}]`)
  const saved = want.hasSavedRecoveryKey
  const changed = status.tpm2 === null ? [] : (want.changedPcrs ?? [])
  if (saved && changed.length === 0 && enrollmentProblems(status, want.pcrs).length === 0)
    return { alreadyEnrolled: true }
  const hasPassphrase = status.passwordKeyslots.length > 0
  const unlockWith: UnlockKey | undefined = hasPassphrase
    ? 'passphrase'
    : saved && status.recoveryKeyslot !== null
      ? 'recovery-key'
      : undefined
  if (unlockWith === undefined)
    throw new UserError(
      `the credstore on ${want.target} has no passphrase slot left and the vault has no recovery key for it`,
      {
        hint: 'nothing was changed; with a key that still opens it, add a passphrase (`systemd-cryptenroll --password`), store it in the vault as the host’s credstore-passphrase, and run enroll again',
      },
    )
  if (unlockWith === 'recovery-key' && !want.canReadRecoveryKey)
    throw new UserError(
      `re-binding the credstore on ${want.target} to PCRs ${pcrList(want.pcrs)} needs its recovery key: the passphrase slot is gone`,
      { hint: 'nothing was changed; run enroll with access to the vault’s recovery key' },
    )

  const steps: CredstoreStep[] = []
  if (status.recoveryKeyslot === null || !saved) {
    // A recovery slot whose key never reached the vault (an interrupted run) is replaced in
    // the same command: the new one is enrolled, then the old one wiped.
    const replaces = status.recoveryKeyslot !== null
    steps.push({
      args: ['--recovery-key', ...(replaces ? ['--wipe-slot=recovery'] : [])],
      unlockWith,
      savesRecoveryKey: true,
      what: 'creating the recovery key',
      done: replaces
        ? 'wiped a recovery key the vault did not have (left by an interrupted run) and stored a new one in the vault'
        : 'created a recovery key and stored it in the vault',
    })
  }
  const pcrs = pcrList(want.pcrs)
  const old = status.tpm2 === null ? undefined : pcrList(status.tpm2.pcrs)
  const moved = changed.length > 0
  const rebind = old !== undefined && (old !== pcrs || moved)
  // systemd 252 compares the policy hash, made from the PCR values of now, with the slot's: the
  // same set and values again is a no-op ("This PCR set is already enrolled") while the wipe
  // still runs; another set, or the same set after its values moved, makes a new slot, and
  // --wipe-slot=tpm2 drops the old one (never the slot being enrolled).
  const wipe = [...(hasPassphrase ? ['password'] : []), ...(rebind ? ['tpm2'] : [])]
  const bound =
    old === undefined
      ? `bound the credstore to the TPM (PCRs ${pcrs})`
      : old !== pcrs
        ? `re-bound the credstore's TPM slot from PCRs ${old} to PCRs ${pcrs}`
        : moved
          ? `re-bound the credstore's TPM slot to the values of PCR ${pcrList(changed)} now (they changed since the last enroll)`
          : `kept the TPM binding (PCRs ${pcrs})`
  steps.push({
    args: [
      `--tpm2-device=${want.tpm2Device}`,
      `--tpm2-pcrs=${pcrs}`,
      ...(wipe.length > 0 ? [`--wipe-slot=${wipe.join(',')}`] : []),
    ],
    unlockWith,
    savesRecoveryKey: false,
    what: 'enrolling the TPM',
    done: hasPassphrase ? `${bound} and wiped the initial passphrase` : bound,
  })
  return { alreadyEnrolled: false, steps }
}

export async function enrollCredstore(input: CredstoreEnrollInput): Promise<CredstoreEnrollResult> {
  const { shell, device } = input
  const target = shell.description
  const status = await readCredstoreStatus(shell, device)
  const plan = planCredstoreEnrollment(status, {
    tpm2Device: input.tpm2Device,
    pcrs: input.pcrs,
    hasSavedRecoveryKey: await input.hasSavedRecoveryKey(),
    canReadRecoveryKey: input.readRecoveryKey !== undefined,
    target,
    ...(input.changedPcrs !== undefined && { changedPcrs: input.changedPcrs }),
  })
  if (plan.alreadyEnrolled) return { alreadyEnrolled: true, status, steps: [] }
  // Before anything changes: a recovery key made for a host whose TPM is unreachable would be
  // a change for nothing.
  await probeTpm(shell, input.tpm2Device, input.pcrs)
  const keys: Record<UnlockKey, () => Promise<string>> = {
    passphrase: once(input.unlockPassphrase),
    'recovery-key': once(input.readRecoveryKey ?? (() => Promise.reject(new Error('no key')))),
  }
  const done: string[] = []
  for (const step of plan.steps) {
    const command = `systemd-cryptenroll ${[device, ...step.args].map(shellQuote).join(' ')}`
    const result = await shell.run(withUnlockKeyFromStdin(command), {
      stdin: await keys[step.unlockWith](),
      timeoutMs: 120_000,
    })
    if (result.code !== 0) {
      const sofar = done.length === 0 ? 'nothing was changed' : `done: ${done.join('; ')}`
      throw cryptenrollFailure(result.stderr, step, { ...input, target, sofar })
    }
    if (step.savesRecoveryKey) await input.saveRecoveryKey(recoveryKeyIn(result.stdout, target))
    done.push(step.done)
  }

  const after = await readCredstoreStatus(shell, device)
  const problems = enrollmentProblems(after, input.pcrs).join('; ')
  const hint = `look at it with \`cryptsetup luksDump ${device}\`; the recovery key is in the vault`
  if (problems !== '')
    throw new UserError(`the credstore header on ${target} is not as enrolled: ${problems}`, {
      hint,
    })
  return { alreadyEnrolled: false, status: after, steps: done }
}

// systemd 252 seeks in --unlock-key-file before reading it (src/cryptenroll/cryptenroll.c passes
// offset 0 to read_full_file_full; systemd#31185 dropped the seek in 256), so /dev/stdin on a
// pipe fails with "Illegal seek", and a socket is refused. The key is therefore written from
// stdin into a tmpfs mounted in a mount namespace of this one command: no other process sees
// it, nothing reaches a disk, and the kernel frees it when the command ends, however it ends
// (the file is also removed at once). $PASSWORD would put it in the environment instead.
export function withUnlockKeyFromStdin(command: string): string {
  const inner = [
    `mount -t tmpfs -o size=64k,mode=0700,nosuid,nodev,noexec keystone-enroll "$1" && cat > "$1/key" && ${command} --unlock-key-file="$1/key"`,
    'rc=$?',
    'rm -f "$1/key"',
    'exit $rc',
  ].join('\n')
  const outer = [
    'umask 077',
    'd=$(mktemp -d /run/keystone-enroll.XXXXXX) || exit 1',
    `unshare --mount --propagation private sh -c ${shellQuote(inner)} keystone-enroll "$d"`,
    'rc=$?',
    'rmdir "$d"',
    'exit $rc',
  ].join('\n')
  return `sh -c ${shellQuote(outer)}`
}

const once = <T>(get: () => Promise<T>) => {
  let value: Promise<T> | undefined
  return () => (value ??= get())
}

// systemd-cryptenroll prints the recovery key alone on stdout (the explanation goes to stderr):
// eight groups of eight letters of its modhex-like alphabet (src/shared/recovery-key.c).
const RECOVERY_KEY = /^[a-z]{8}(-[a-z]{8}){7}$/

function recoveryKeyIn(stdout: string, target: string): string {
  const keys = stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => RECOVERY_KEY.test(line))
  const hint = 'nothing reached the vault; the next enroll replaces the recovery slot it made'
  if (keys.length !== 1)
    throw new UserError(`systemd-cryptenroll on ${target} printed no recovery key`, { hint })
  return keys[0]!
}

// Messages of systemd 252 and tpm2-tss when the TPM is absent or unreachable.
const NO_TPM =
  /Failed to initialize TCTI context|TPM2 device not found|No TPM2 device|Cannot connect to swtpm|tpmrm0: No such file/i

const lastLine = (text: string) => text.trim().split('\n').at(-1)?.trim() ?? ''

const noTpm = (target: string, tpm2Device: string, reason: string, sofar: string) =>
  new UserError(`no TPM 2.0 reachable on ${target}`, {
    hint: `${reason} (--tpm2-device=${tpm2Device}); enable the TPM 2.0 in the firmware, or set tpm.enable: false in the host file; ${sofar}`,
  })

// systemd-creds(1) sealing a few bytes to the TPM goes through the same TCTI code as
// systemd-cryptenroll (src/shared/tpm2-util.c) and changes nothing on the host.
async function probeTpm(shell: RemoteShell, tpm2Device: string, pcrs: number[]): Promise<void> {
  const result = await shell.run(
    `printf keystone | systemd-creds encrypt --with-key=tpm2 --tpm2-device=${shellQuote(tpm2Device)} --tpm2-pcrs=${pcrList(pcrs)} --name=keystone-tpm-probe - - >/dev/null`,
    { timeoutMs: 60_000 },
  )
  if (result.code !== 0)
    throw noTpm(shell.description, tpm2Device, lastLine(result.stderr), 'nothing was changed')
}

function cryptenrollFailure(
  stderr: string,
  step: CredstoreStep,
  at: { target: string; tpm2Device: string; sofar: string },
): UserError {
  // src/cryptenroll/cryptenroll.c: "Unlocking via keyfile failed: Operation not permitted".
  if (/Unlocking via keyfile failed/.test(stderr))
    return new UserError(
      step.unlockWith === 'passphrase'
        ? `the vault's credstore passphrase does not open the credstore on ${at.target}`
        : `the vault's recovery key does not open the credstore on ${at.target}`,
      {
        hint: `${at.sofar}; the vault holds another installation's key: if the host was installed outside Keystone, deploy it again`,
      },
    )
  const tpmLine = stderr.split('\n').find((line) => NO_TPM.test(line))
  if (tpmLine !== undefined) return noTpm(at.target, at.tpm2Device, tpmLine.trim(), at.sofar)
  return new UserError(`${step.what} failed on ${at.target}: ${lastLine(stderr)}`, {
    hint: `${at.sofar}; run enroll again once the cause is fixed`,
  })
}
