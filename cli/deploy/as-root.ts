import type { RemoteShell } from './remote-shell.js'
import { shellQuote } from './render-plan.js'

// Remote steps that need root, for a host file whose ssh.user is an admin rather than root:
// every command goes through `sudo -n` (never a password prompt; the users module grants wheel
// passwordless sudo), with stdin passed through untouched.
export function asRoot(shell: RemoteShell, user: string): RemoteShell {
  if (user === 'root') return shell
  return {
    description: `${shell.description} via sudo`,
    run: (command, options) => shell.run(`sudo -n sh -c ${shellQuote(command)}`, options),
  }
}
