import t from 'tap'
import { ExitCode } from '../cli/exit-codes.js'
import { HostFileError, UsageError, UserError } from '../cli/errors.js'
import { reportError } from '../cli/ui/report-error.js'

// Scripts depend on these numbers: changing one is a breaking change.
t.test('exit codes', async (t) => {
  t.same(ExitCode, {
    ok: 0,
    failure: 1,
    usage: 2,
    integrity: 3,
    wrongPassphrase: 4,
    noIdentity: 5,
    notRecipient: 6,
    internal: 70,
    queued: 75,
    interrupted: 130,
  })
})

t.test('each error kind maps to its exit code and prints one line and a hint', async (t) => {
  const lines: string[] = []
  const write = (line: string) => lines.push(line)
  t.equal(reportError(new UserError('disk not found', { hint: 'check the id' }), write, false), 1)
  t.equal(reportError(new UsageError('missing --disk'), write, false), 2)
  t.equal(
    reportError(new UserError('object tampered', { exitCode: ExitCode.integrity }), write, false),
    3,
  )
  t.equal(reportError(new TypeError('oops'), write, false), 70)
  t.equal(
    reportError(
      new HostFileError([
        { file: 'hosts/a.yaml', line: 3, col: 5, path: 'role', message: 'expected x' },
      ]),
      write,
      false,
    ),
    1,
  )
  t.same(lines, [
    'keystone: disk not found',
    '  hint: check the id',
    'keystone: missing --disk',
    'keystone: object tampered',
    'keystone: internal error: oops',
    '  hint: this is a bug in Keystone; run again with KEYSTONE_DEBUG=1 and report the output',
    'hosts/a.yaml:3:5: role: expected x',
    'keystone: 1 problem in 1 host file',
    '  hint: fix the lines above, then run `keystone check` again',
  ])
})
