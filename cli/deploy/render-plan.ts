import { formatDiskSize } from '../ui/size.js'
import type { DeployPlan } from './plan-deploy.js'

// The plan as an admin reads it before typing the host name: what is wiped first, then every
// step, file and secret name, and the exact commands.

// POSIX shell quoting, so that a printed command can be pasted as it is.
export const shellQuote = (word: string) =>
  /^[A-Za-z0-9_@%+=:,./#-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`

export function renderPlan(plan: DeployPlan, machine: string[]): string[] {
  const lines = [`Plan: deploy ${plan.host} to ${plan.target}`, '', 'The machine now:']
  lines.push(...machine.map((line) => `  ${line}`))
  lines.push('', `Disks that will be WIPED (${plan.wipe.length}):`)
  for (const disk of plan.wipe)
    lines.push(
      `  ${disk.path}`,
      `      ${formatDiskSize(disk.sizeBytes)} (${disk.sizeBytes} bytes), ${disk.model}, serial ${disk.serial}`,
    )
  lines.push(
    '',
    `Phases (nixos-anywhere from Keystone's pinned flake, one run each${plan.kexec ? '' : '; the machine already runs a NixOS installer, so kexec is skipped'}):`,
  )
  for (const [index, phase] of plan.phases.entries())
    lines.push(
      `  ${index + 1}. ${phase.name.padEnd(8)}${phase.summary}`,
      `     ${[phase.file, ...phase.args].map(shellQuote).join(' ')}`,
    )
  lines.push('', 'Files placed on the host (--extra-files, owned by root):')
  const width = Math.max(...plan.files.map((file) => file.path.length))
  for (const file of plan.files)
    lines.push(`  ${file.path.padEnd(width)}  ${file.mode}  ${file.what}`)
  lines.push(
    '',
    "Disk keys (only in the installer's RAM, --disk-encryption-keys; kept in the vault):",
  )
  const keyWidth = Math.max(...plan.diskKeys.map((key) => key.remote.length))
  for (const key of plan.diskKeys) lines.push(`  ${key.remote.padEnd(keyWidth)}  ${key.what}`)
  lines.push('', 'Secrets injected into /var/lib/keystone/secrets (names only):')
  lines.push(
    ...(plan.secrets.length === 0 ? ['  (none)'] : plan.secrets.map((name) => `  ${name}`)),
  )
  lines.push(
    '',
    'Then:',
    `  ${plan.facterReport} (the hardware report) is added to git before the disko phase evaluates`,
    `  hosts/${plan.host}.yaml pins ${plan.pins.join('; ')}`,
    '  Keystone waits for the host on its new, pinned key and checks `systemctl is-system-running`, the pool and the mounts',
  )
  return lines
}
