import { generateKeyPairSync } from 'node:crypto'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { parseDocument } from 'yaml'
import { writeEnrollmentRecord } from '../../cli/records/enrollment-record.js'
import { heartbeatName, type Heartbeat } from '../../cli/records/heartbeat.js'
import { encodeSigned, recordHash } from '../../cli/records/signed-record.js'
import { publicKeyString } from '../../cli/records/signing-key.js'
import { tempDir } from '../helpers/agent.js'
import { keystone, tempFleet } from '../helpers/temp-fleet.js'

// ENROLLMENT in `keystone fleet status`: the PCR values a TPM host reports in its heartbeats,
// against those `keystone enroll` recorded in git.
const PCR1 = 'a1'.repeat(32)
const PCR7 = 'b7'.repeat(32)

t.test('the reported PCRs match the enrollment record, until PCR 7 changes', async (t) => {
  const fleet = await tempFleet(t)
  const work = await tempDir('enrollment')
  t.teardown(() => rm(work, { recursive: true, force: true }))
  const key = generateKeyPairSync('ed25519').privateKey
  const file = path.join(fleet, 'hosts/desk1.yaml')
  const doc = parseDocument(await readFile(file, 'utf8'))
  doc.setIn(
    ['sync'],
    doc.createNode({
      enable: true,
      store: `file://${work}/store`,
      agentKey: publicKeyString(key),
      paths: [{ path: '/home' }],
    }),
  )
  await writeFile(file, doc.toString())
  await writeEnrollmentRecord(fleet, 'desk1', {
    enrolledAt: '2026-11-23T07:47:12.000Z',
    pcrBank: 'sha256',
    pcrs: { 1: PCR1, 7: PCR7 },
    secureBoot: 'enabled (user)',
    tpm2Device: 'auto',
  })
  let prev: Buffer | undefined
  const beat = async (seq: number, pcrs: Record<string, string>) => {
    const body: Heartbeat = {
      version: 1,
      kind: 'heartbeat',
      host: 'desk1',
      seq,
      time: new Date().toISOString(),
      prev: prev === undefined ? null : recordHash(prev),
      agentVersion: 'test',
      intervalSeconds: 3600,
      report: {
        pending: { objects: 0, bytes: 0 },
        errors: [],
        conflicts: 0,
        secureBoot: 'enabled',
        tpm: { present: true, pcrs },
      },
    }
    prev = encodeSigned(body, key)
    const name = path.join(work, 'store', heartbeatName('desk1', seq))
    await mkdir(path.dirname(name), { recursive: true })
    await writeFile(name, prev)
  }
  const enrollment = async () => {
    const r = await keystone(['fleet', 'status', 'desk1', '--json', '--fleet', fleet], {
      env: { XDG_STATE_HOME: path.join(work, 'state') },
    })
    const [row] = JSON.parse(r.stdout) as { state: string; enrollment: string }[]
    return `${row!.state}: ${row!.enrollment}`
  }
  await beat(1, { '1': PCR1, '7': PCR7 })
  t.equal(await enrollment(), 'ok: matches')
  await beat(2, { '1': PCR1, '7': 'c0'.repeat(32) })
  t.equal(await enrollment(), 'ok: changed (PCR 7)', 'a new boot chain shows; the host is still up')
  await beat(3, { '7': PCR7 })
  t.equal(await enrollment(), 'ok: unknown (PCR 1 not reported)')
})
