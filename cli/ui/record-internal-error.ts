import { appendFileSync } from 'node:fs'

// With KEYSTONE_INTERNAL_ERROR_LOG=<file>, every run that ends in an internal error (exit 70)
// appends one JSON line there: the command (the first words of argv, which never hold a secret)
// and the message. The test suite sets it and fails when the file is not empty afterwards
// (scripts/tap-after.mjs), so no test passes while the CLI it drives hits a bug.
export function recordInternalError(error: unknown, argv: readonly string[]): void {
  const log = process.env['KEYSTONE_INTERNAL_ERROR_LOG']
  if (log === undefined || log === '') return
  const message = error instanceof Error ? error.message : String(error)
  const line = JSON.stringify({
    command: argv.slice(0, 2).join(' '),
    cwd: process.cwd(),
    message: message.slice(0, 300),
  })
  try {
    appendFileSync(log, line + '\n')
  } catch {
    // The report on stderr stands; the log is a convenience.
  }
}
