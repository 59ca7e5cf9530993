import { existsSync, readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { UserError } from '../errors.js'

// The rehearsal machine's serial console: QEMU appends everything the guest prints to a log
// file, and takes keystrokes on a socket — what an admin at the console would read and type
// (the credstore's passphrase prompt at the first boot, the recovery key after a PCR change).

export function consoleLength(log: string): number {
  return existsSync(log) ? readFileSync(log).length : 0
}

// The console text printed after byte `from`, with terminal escapes and carriage returns gone.
export function consoleSince(log: string, from: number): string {
  if (!existsSync(log)) return ''
  return readFileSync(log)
    .subarray(from)
    .toString('utf8')
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    .replace(/\r/g, '')
}

// Waits until the console shows `pattern` after byte `from`; returns the offset just past it.
export async function waitForConsole(
  log: string,
  pattern: RegExp,
  options: { from: number; timeoutMs: number; what: string },
): Promise<number> {
  const began = Date.now()
  for (;;) {
    const text = consoleSince(log, options.from)
    const match = pattern.exec(text)
    if (match !== null)
      return options.from + Buffer.byteLength(text.slice(0, match.index + match[0].length))
    if (Date.now() - began > options.timeoutMs)
      throw new UserError(
        `the rehearsal machine's console did not show ${options.what} within ${Math.round(options.timeoutMs / 1000)} s`,
        {
          hint: `its last lines: ${text.trim().split('\n').slice(-3).join(' | ') || '(nothing)'}; the whole console is in ${log}`,
        },
      )
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

// Types `text` on the console, as keystrokes; a secret typed here goes to the guest only.
export async function typeOnConsole(socket: string, text: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const connection = connect(socket, () => {
      connection.end(text, () => resolve())
    })
    connection.on('error', reject)
  })
}
