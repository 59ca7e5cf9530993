import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import {
  readEnrollmentRecord,
  writeEnrollmentRecord,
  type EnrollmentRecord,
} from '../../cli/records/enrollment-record.js'

const PCR1 = 'a'.repeat(64)
const PCR7 = '2ed93f199692dc6788efa6a1fe74514ab9760b2a6ceeaef6c808c13e4abb0d42'

async function fleet(t: Test) {
  const root = await mkdtemp(path.join(tmpdir(), 'keystone-enrollment-record-'))
  t.teardown(() => rm(root, { recursive: true, force: true }))
  return root
}

t.test(
  'hosts/<name>/enrollment.json: fixed key order, sorted PCRs, trailing newline',
  async (t) => {
    const root = await fleet(t)
    // Given out of order and in uppercase, as a caller might.
    const record = {
      tpm2Device: 'auto',
      secureBoot: 'enabled (user)',
      pcrs: { 7: PCR7.toUpperCase(), 1: PCR1 },
      pcrBank: 'sha256',
      enrolledAt: '2026-11-23T07:47:12.000Z',
    } as EnrollmentRecord
    await writeEnrollmentRecord(root, 'web1', record)
    const file = path.join(root, 'hosts/web1/enrollment.json')
    t.equal(
      await readFile(file, 'utf8'),
      [
        '{',
        '  "enrolledAt": "2026-11-23T07:47:12.000Z",',
        '  "pcrBank": "sha256",',
        '  "pcrs": {',
        `    "1": "${PCR1}",`,
        `    "7": "${PCR7}"`,
        '  },',
        '  "secureBoot": "enabled (user)",',
        '  "tpm2Device": "auto"',
        '}',
        '',
      ].join('\n'),
    )
    t.same(readEnrollmentRecord(root, 'web1'), {
      enrolledAt: '2026-11-23T07:47:12.000Z',
      pcrBank: 'sha256',
      pcrs: { 1: PCR1, 7: PCR7 },
      secureBoot: 'enabled (user)',
      tpm2Device: 'auto',
    })
    t.same(
      await readdir(path.dirname(file)),
      ['enrollment.json'],
      'no temporary file left beside it',
    )

    // The same record again: the same bytes, so git sees no change.
    const before = await readFile(file, 'utf8')
    await writeEnrollmentRecord(root, 'web1', record)
    t.equal(await readFile(file, 'utf8'), before)
  },
)

t.test(
  'a host never enrolled has no record; a damaged one is one line naming the file',
  async (t) => {
    const root = await fleet(t)
    t.equal(readEnrollmentRecord(root, 'web1'), undefined)
    await writeEnrollmentRecord(root, 'web1', {
      enrolledAt: '2026-11-23T07:47:12.000Z',
      pcrBank: 'sha256',
      pcrs: { 7: PCR7 },
      secureBoot: 'disabled',
    })
    const file = path.join(root, 'hosts/web1/enrollment.json')
    await writeFile(
      file,
      '{"enrolledAt": "x", "pcrBank": "sha1", "pcrs": {}, "secureBoot": "disabled"}\n',
    )
    t.throws(() => readEnrollmentRecord(root, 'web1'), {
      name: 'UserError',
      message: /^hosts\/web1\/enrollment\.json: expected \{ enrolledAt, pcrBank: "sha256"/,
    })
    await writeFile(file, '{"enrolledAt": ')
    t.throws(() => readEnrollmentRecord(root, 'web1'), {
      name: 'UserError',
      message: /^hosts\/web1\/enrollment\.json is not valid JSON: /,
      hint: 'restore it from git, or run `keystone enroll web1` again',
    })
  },
)
