// tap's `before`: an empty log of internal errors (see cli/ui/record-internal-error.ts).
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'

const log = process.env.KEYSTONE_INTERNAL_ERROR_LOG
if (log) {
  mkdirSync(path.dirname(log), { recursive: true })
  writeFileSync(log, '')
}
