// tap's `after`: the run fails when any CLI run in it ended in an internal error (exit 70). A
// test about internal errors runs the CLI without KEYSTONE_INTERNAL_ERROR_LOG.
import { existsSync, readFileSync } from 'node:fs'

const log = process.env.KEYSTONE_INTERNAL_ERROR_LOG
const lines = log && existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []
if (lines.length > 0) {
  console.error(`${lines.length} CLI run(s) in the tests ended in an internal error (exit 70):`)
  for (const line of lines) console.error(`  ${line}`)
  process.exit(1)
}
