import { UserError, UsageError } from '../errors.js'
import { promptLine } from '../ui/prompt-line.js'
import { isTerminal } from '../vault/read-input.js'

// Nothing destructive happens until the admin has typed the host's name (as GitHub asks for a
// repository's name before deleting it); `--yes` is the explicit opt-out for automation.
export async function confirmWipe(
  host: string,
  disks: readonly string[],
  yes: boolean,
): Promise<void> {
  if (yes) return
  if (!isTerminal())
    throw new UsageError(
      `deploy wipes ${disks.length === 1 ? 'a disk' : `${disks.length} disks`} of ${host} and needs a confirmation`,
      'run it on a terminal and type the host name, or pass --yes in automation',
    )
  const typed = (
    await promptLine(`Type the host name (${host}) to wipe ${disks.join(', ')} and install: `)
  ).trim()
  if (typed !== host)
    throw new UserError(`deploy cancelled: you typed \`${typed}\`, not \`${host}\``, {
      hint: 'nothing was changed',
    })
}
