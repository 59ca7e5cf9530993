import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { recordInternalError } from '../../cli/ui/record-internal-error.js'
import { repoRoot } from '../helpers/temp-fleet.js'

// The suite's guard against tests that pass while the CLI hits a bug: a run that ends in exit 70
// appends a line to KEYSTONE_INTERNAL_ERROR_LOG (npm test sets it), and tap's `after` script
// (scripts/tap-after.mjs) fails the whole run when that file is not empty.
const run = promisify(execFile)
const after = path.join(repoRoot, 'scripts/tap-after.mjs')

t.test('an internal error is recorded, and the after script fails the run on it', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'keystone-guard-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const log = path.join(dir, 'internal-errors.log')
  await writeFile(log, '')
  const clean = await run(process.execPath, [after], {
    env: { ...process.env, KEYSTONE_INTERNAL_ERROR_LOG: log },
  })
  t.equal(clean.stderr, '', 'an empty log passes')

  const saved = process.env['KEYSTONE_INTERNAL_ERROR_LOG']
  process.env['KEYSTONE_INTERNAL_ERROR_LOG'] = log
  t.teardown(() => {
    if (saved === undefined) delete process.env['KEYSTONE_INTERNAL_ERROR_LOG']
    else process.env['KEYSTONE_INTERNAL_ERROR_LOG'] = saved
  })
  recordInternalError(new TypeError('Cannot read properties of undefined'), ['agent', 'restore'])
  const line = JSON.parse((await readFile(log, 'utf8')).trim()) as { message: string }
  t.equal(line.message, 'Cannot read properties of undefined')

  const failed = await run(process.execPath, [after], {
    env: { ...process.env, KEYSTONE_INTERNAL_ERROR_LOG: log },
  }).then(
    () => ({ code: 0, stderr: '' }),
    (error: { code: number; stderr: string }) => error,
  )
  t.equal(failed.code, 1, 'the run fails')
  t.match(failed.stderr, /1 CLI run\(s\) in the tests ended in an internal error \(exit 70\)/)
  t.match(failed.stderr, 'Cannot read properties of undefined')
})
