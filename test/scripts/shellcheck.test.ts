import { execFile, execFileSync } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { needs } from '../helpers/needs.js'

const run = promisify(execFile)
const root = path.resolve(import.meta.dirname, '../..')

// Every shell script the project ships or runs (CI, helpers, benchmarks) passes shellcheck.
t.test('every shell script passes shellcheck', { skip: needs('shellcheck') }, async (t) => {
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: root })
    .toString()
    .split('\n')
    .filter((f) => f.endsWith('.sh') || f === '.ci/run')
  t.ok(files.includes('.ci/run') && files.includes('scripts/configure-nix-offline.sh'))
  for (const file of files) {
    const result = await run('shellcheck', ['--severity=style', file], { cwd: root }).then(
      () => '',
      (error: { stdout?: string }) => error.stdout ?? 'failed',
    )
    t.equal(result, '', `${file} passes shellcheck`)
  }
})
