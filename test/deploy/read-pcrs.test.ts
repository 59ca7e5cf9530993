import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { promisify } from 'node:util'
import t from 'tap'
import { parsePcrValues, pcrReadCommand, readPcrs } from '../../cli/deploy/read-pcrs.js'
import { localShell } from '../helpers/local-shell.js'
import { needs } from '../helpers/needs.js'
import { startSwtpm } from '../helpers/swtpm.js'

// PCR values read from a real swtpm through its TCTI; the sysfs form as the kernel prints it.
const exec = promisify(execFile)
const skip = needs('swtpm', ['--version']) || needs('tpm2_pcrread', ['--version'])

t.test(
  'the PCRs of a TPM reached through a TCTI: extending PCR 7 changes it, as tpm2_pcrread says',
  { skip },
  async (t) => {
    const tpm = await startSwtpm()
    t.teardown(tpm.stop)
    const before = await readPcrs(localShell(), [1, 7], tpm.tcti)
    t.same(before, { 1: '0'.repeat(64), 7: '0'.repeat(64) }, 'a fresh TPM: all zero')

    const event = createHash('sha256').update('db: a new key').digest()
    await exec('tpm2_pcrextend', ['-T', tpm.tcti, `7:sha256=${event.toString('hex')}`])
    const after = await readPcrs(localShell(), [1, 7], tpm.tcti)
    t.equal(after[1], before[1], 'PCR 1 unchanged')
    // TPM 2.0 extend: new = SHA-256(old || event).
    const expected = createHash('sha256')
      .update(Buffer.concat([Buffer.from(before[7]!, 'hex'), event]))
      .digest('hex')
    t.equal(after[7], expected)
    const { stdout } = await exec('tpm2_pcrread', ['-T', tpm.tcti, 'sha256:7'])
    t.equal(
      after[7],
      /7 : 0x([0-9A-F]{64})/.exec(stdout)![1]!.toLowerCase(),
      'as tpm2_pcrread prints it',
    )
  },
)

t.test('an unreachable TPM is one line', { skip }, async (t) => {
  await t.rejects(readPcrs(localShell(), [1, 7], 'swtpm:host=127.0.0.1,port=1'), {
    name: 'UserError',
    message: /^cannot read PCR 1\+7 \(sha256\) on this machine \(local shell\): [^\n]+$/,
  })
})

t.test('the source is explicit: sysfs for `auto`, tpm2_pcrread for a TCTI', async (t) => {
  t.equal(pcrReadCommand([1, 7], 'auto'), 'cd /sys/class/tpm/tpm0/pcr-sha256 && grep -H . 1 7')
  t.equal(
    pcrReadCommand([1, 7], 'swtpm:host=127.0.0.1,port=2321'),
    'tpm2_pcrread -T swtpm:host=127.0.0.1,port=2321 sha256:1,7',
  )
  t.throws(() => pcrReadCommand([7, 24], 'auto'), {
    message: 'tpm.pcrs: expected PCR indexes 0–23, got [7, 24]',
  })
  // Documentation/ABI/stable/sysfs-class-tpm: uppercase hex, one file per PCR.
  const sysfs = `1:${'3D'.repeat(32)}\n7:2ED93F199692DC6788EFA6A1FE74514AB9760B2A6CEEAEF6C808C13E4ABB0D42\n`
  t.same(parsePcrValues(sysfs), {
    1: '3d'.repeat(32),
    7: '2ed93f199692dc6788efa6a1fe74514ab9760b2a6ceeaef6c808c13e4abb0d42',
  })
})
