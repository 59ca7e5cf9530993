import { UserError } from '../errors.js'
import { readCredstoreStatus, type CredstoreStatus } from './credstore-status.js'
import type { RemoteShell } from './remote-shell.js'
import { shellQuote } from './render-plan.js'

// Binds the credstore to the TPM, the way the install check (checks/vm-install-credstore-tpm.nix)
// does by hand: a recovery key first, captured straight into the vault; then a TPM2 slot bound
// to the host's PCRs that wipes the initial passphrase slot; then the header is checked.
// systemd-cryptenroll(1) of systemd 252: --recovery-key, --tpm2-device, --tpm2-pcrs (+-separated),
// --wipe-slot=password|recovery|tpm2, --unlock-key-file.

export interface CredstoreEnrollInput {
  shell: RemoteShell
  device: string
  // `auto` on a host; `swtpm:host=…,port=…` in tests.
  tpm2Device: string
  pcrs: number[]
  unlockPassphrase: () => Promise<string>
  hasSavedRecoveryKey: () => Promise<boolean>
  saveRecoveryKey: (key: string) => Promise<void>
}

export interface CredstoreEnrollResult {
  alreadyEnrolled: boolean
  status: CredstoreStatus
  steps: string[]
}

const RECOVERY_KEY = /^[a-z]{8}(-[a-z]{8}){7}$/m

const samePcrs = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && [...a].sort((x, y) => x - y).every((pcr, i) => pcr === [...b].sort((x, y) => x - y)[i])

// systemd-cryptenroll reads --unlock-key-file with a seek, so a pipe will not do ("Illegal
// seek"): the passphrase, written on stdin, lands in a root-only file in RAM (/run is a tmpfs)
// that the same command removes, whatever happens. It is the initial passphrase this very
// enrollment wipes.
const withKeyFile = (command: string) =>
  [
    'set -eu',
    'umask 077',
    'd=$(mktemp -d /run/keystone-enroll.XXXXXX 2>/dev/null || mktemp -d /dev/shm/keystone-enroll.XXXXXX)',
    `trap 'rm -rf "$d"' EXIT`,
    'cat > "$d/key"',
    command.replaceAll('KEYFILE', '"$d/key"'),
  ].join('\n')

export async function enrollCredstore(input: CredstoreEnrollInput): Promise<CredstoreEnrollResult> {
  const { shell, device } = input
  const dev = shellQuote(device)
  const steps: string[] = []
  let status = await readCredstoreStatus(shell, device)
  const enrolled = (s: CredstoreStatus) =>
    s.tpm2 !== null && samePcrs(s.tpm2.pcrs, input.pcrs) && s.recoveryKeyslot !== null && s.passwordKeyslots.length === 0
  if (enrolled(status) && (await input.hasSavedRecoveryKey())) return { alreadyEnrolled: true, status, steps }
  if (status.passwordKeyslots.length === 0)
    throw new UserError(`the credstore on ${shell.description} has no passphrase slot left to enroll from`, {
      hint: 'unlock with the recovery key and add a passphrase (`systemd-cryptenroll --password`), then run enroll again',
    })

  const passphrase = await input.unlockPassphrase()
  const run = async (what: string, command: string) => {
    const result = await shell.run(`sh -c ${shellQuote(withKeyFile(command))}`, { stdin: passphrase, timeoutMs: 120_000 })
    if (result.code === 0) return result.stdout
    const error = result.stderr
    if (/No key available|incorrect passphrase|Failed to unlock|Unlocking via keyfile failed/i.test(error))
      throw new UserError(`the vault's credstore passphrase does not open the credstore on ${shell.description}`, {
        hint: `nothing was changed; if the host was reinstalled outside Keystone, deploy it again`,
      })
    if (/TPM2|tcti|tpm/i.test(error) && /fail|not|unable|No such/i.test(error))
      throw new UserError(`no TPM 2.0 reachable on ${shell.description} (${what})`, {
        hint: 'enable the TPM in the firmware, or set `tpm.enable: false` in the host file',
      })
    throw new UserError(`${what} failed on ${shell.description}: ${error.trim().split('\n').at(-1) ?? ''}`)
  }

  // An interrupted earlier run may have left a recovery slot whose key never reached the vault.
  if (status.recoveryKeyslot !== null && !(await input.hasSavedRecoveryKey())) {
    await run('wiping the unsaved recovery key', `systemd-cryptenroll ${dev} --wipe-slot=recovery --unlock-key-file=KEYFILE`)
    steps.push('wiped a recovery key the vault did not have')
    status = await readCredstoreStatus(shell, device)
  }
  if (status.recoveryKeyslot === null) {
    const output = await run('creating the recovery key', `systemd-cryptenroll ${dev} --recovery-key --unlock-key-file=KEYFILE`)
    const key = RECOVERY_KEY.exec(output)?.[0]
    if (key === undefined) throw new UserError(`systemd-cryptenroll on ${shell.description} printed no recovery key`)
    await input.saveRecoveryKey(key)
    steps.push('created a recovery key and stored it in the vault')
  }
  const pcrs = input.pcrs.join('+')
  // Re-binding to other PCRs replaces the TPM2 slot; the password unlocks (systemd#35279).
  const wipe = status.tpm2 === null ? 'password' : 'password,tpm2'
  await run(
    'enrolling the TPM',
    `systemd-cryptenroll ${dev} --tpm2-device=${shellQuote(input.tpm2Device)} --tpm2-pcrs=${pcrs} --wipe-slot=${wipe} --unlock-key-file=KEYFILE`,
  )
  steps.push(`bound the credstore to the TPM (PCRs ${pcrs}) and wiped the initial passphrase`)

  status = await readCredstoreStatus(shell, device)
  if (!enrolled(status))
    throw new UserError(`the credstore header on ${shell.description} does not show the expected enrollment`, {
      hint: `check with \`cryptsetup luksDump ${device}\`: a systemd-tpm2 token on PCRs ${pcrs}, a systemd-recovery token, no other slot`,
    })
  return { alreadyEnrolled: false, status, steps }
}
