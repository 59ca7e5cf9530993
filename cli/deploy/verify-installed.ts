import { UserError } from '../errors.js'
import type { Host } from '../host/host-schema.js'
import type { RemoteShell } from './remote-shell.js'

// After the reboot: the installed system must have booted completely, imported its pool and
// mounted its encrypted datasets — nixos-anywhere alone reports success even when it did not
// (nixos-anywhere#291). Read-only commands, each answer compared with the host file.

const MOUNTS = [
  ['/', 'system'],
  ['/nix', 'system/nix'],
  ['/var', 'system/var'],
] as const

export async function verifyInstalled(shell: RemoteShell, host: Host): Promise<string[]> {
  const pool = host.storage.pool.name
  const problems: string[] = []
  const facts: string[] = []

  // systemctl(1): is-system-running --wait blocks until start-up finished.
  const state = await shell.run('systemctl is-system-running --wait', { timeoutMs: 300_000 })
  const status = state.stdout.trim()
  if (status === 'running') facts.push('systemd: running')
  else {
    const failed = await shell.run('systemctl --failed --plain --no-legend')
    const units = failed.stdout
      .split('\n')
      .map((line) => line.trim().split(/\s+/)[0])
      .filter((unit) => unit !== undefined && unit !== '')
    problems.push(
      `the system is ${status || 'unreachable'}${units.length > 0 ? `; failed units: ${units.join(', ')}` : ''}`,
    )
  }

  const health = (await shell.run(`zpool list -H -o name,health ${pool}`)).stdout.trim().split('\t')
  if (health[0] === pool && health[1] === 'ONLINE') facts.push(`pool ${pool}: ONLINE`)
  else problems.push(`pool ${pool} is ${health[1] ?? 'not imported'}`)

  for (const [mountpoint, dataset] of MOUNTS) {
    const expected = `${pool}/crypt/${dataset}`
    const [source, fstype] = (await shell.run(`findmnt -n -o SOURCE,FSTYPE ${mountpoint}`)).stdout
      .trim()
      .split(/\s+/)
    if (source === expected && fstype === 'zfs') facts.push(`${mountpoint}: ${expected}`)
    else
      problems.push(
        `${mountpoint} is ${source === undefined || source === '' ? 'not mounted' : `${source} (${fstype})`}, expected ${expected} (zfs)`,
      )
  }

  if (problems.length > 0)
    throw new UserError(`${host.name} rebooted but is not healthy: ${problems.join('; ')}`, {
      hint: `log in (ssh ${host.ssh.user}@${host.ssh.address}) and look at \`journalctl -b -p err\``,
    })
  return facts
}
