import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import t from 'tap'
import { heartbeatName, type Heartbeat } from '../../cli/records/heartbeat.js'
import { judgeHeartbeats, type FetchedRecord } from '../../cli/fleet/judge-heartbeats.js'
import { encodeSigned, recordHash } from '../../cli/records/signed-record.js'

// The admin's verdict on a host's heartbeat chain, case by case: every way a bucket can lie
// (a forged, altered or truncated record, an old one replayed under a new name, a deleted or
// reordered one, a bucket rolled back) ends in a state that is not `ok`, naming what is wrong.
const newKey = () => generateKeyPairSync('ed25519').privateKey
const host = 'web1'
const now = new Date('2026-11-23T12:00:00Z')

function chain(
  key: KeyObject,
  count: number,
  options: { lastAt?: Date; who?: string } = {},
): FetchedRecord[] {
  const records: FetchedRecord[] = []
  const last = (options.lastAt ?? new Date(now.getTime() - 30_000)).getTime()
  for (let seq = 1; seq <= count; seq++) {
    const body: Heartbeat = {
      version: 1,
      kind: 'heartbeat',
      host: options.who ?? host,
      seq,
      time: new Date(last - (count - seq) * 600_000).toISOString(),
      prev: seq === 1 ? null : recordHash(records[seq - 2]!.bytes),
      agentVersion: 'test',
      intervalSeconds: 600,
      report: {
        pending: { objects: 0, bytes: 0 },
        errors: [],
        conflicts: 0,
        secureBoot: 'enabled',
        tpm: { present: true, pcrs: {} },
      },
    }
    records.push({ name: heartbeatName(host, seq), seq, bytes: encodeSigned(body, key) })
  }
  return records
}

t.test('a good chain is ok, and its head is what the laptop remembers', async (t) => {
  const key = newKey()
  const records = chain(key, 5)
  const v = judgeHeartbeats(host, key, records, undefined, now)
  t.equal(v.state, 'ok')
  t.same(v.head, { seq: 5, hash: recordHash(records[4]!.bytes), time: v.latest!.time })
  t.equal(
    judgeHeartbeats(host, key, records.slice(2), v.head, now).state,
    'ok',
    'a tail from the remembered head',
  )
})

t.test('no heartbeat: never seen; late: stale; silent for a day: offline', async (t) => {
  const key = newKey()
  t.equal(judgeHeartbeats(host, key, [], undefined, now).state, 'never seen')
  const late = chain(key, 3, { lastAt: new Date(now.getTime() - 30 * 60_000) })
  t.equal(judgeHeartbeats(host, key, late, undefined, now).state, 'stale')
  const gone = chain(key, 3, { lastAt: new Date(now.getTime() - 25 * 3600_000) })
  t.equal(judgeHeartbeats(host, key, gone, undefined, now).state, 'offline')
})

t.test('forged: another key, a flipped byte, a truncated record, a re-encoded body', async (t) => {
  const key = newKey()
  const other = chain(newKey(), 3)
  let v = judgeHeartbeats(host, key, other, undefined, now)
  t.equal(v.state, 'forged')
  t.match(v.detail, /fleet\/web1\/000000000001\.json: the signature does not verify/)

  const records = chain(key, 3)
  for (let i = 0; i < records[2]!.bytes.length - 1; i += 7) {
    const flipped = Buffer.from(records[2]!.bytes)
    flipped[i]! ^= 0x04
    const r = judgeHeartbeats(
      host,
      key,
      [...records.slice(0, 2), { ...records[2]!, bytes: flipped }],
      undefined,
      now,
    )
    t.equal(r.state, 'forged', `byte ${i} flipped`)
  }
  v = judgeHeartbeats(
    host,
    key,
    [...records.slice(0, 2), { ...records[2]!, bytes: records[2]!.bytes.subarray(0, 100) }],
    undefined,
    now,
  )
  t.equal(v.state, 'forged')
  t.match(v.detail, /000000000003\.json: not JSON/)
  const loose = Buffer.from(
    JSON.stringify(JSON.parse(records[2]!.bytes.toString()), null, 1) + '\n',
  )
  t.equal(
    judgeHeartbeats(
      host,
      key,
      [...records.slice(0, 2), { ...records[2]!, bytes: loose }],
      undefined,
      now,
    ).state,
    'forged',
    'same values, other bytes',
  )
})

t.test(
  "replayed: an old heartbeat under a new name, another host's, a rolled-back bucket",
  async (t) => {
    const key = newKey()
    const records = chain(key, 4)
    let v = judgeHeartbeats(
      host,
      key,
      [...records, { name: heartbeatName(host, 5), seq: 5, bytes: records[1]!.bytes }],
      undefined,
      now,
    )
    t.equal(v.state, 'replayed')
    t.match(v.detail, /000000000005\.json holds heartbeat 2 of web1/)

    const swapped = [
      records[0]!,
      records[1]!,
      { ...records[2]!, bytes: records[3]!.bytes },
      { ...records[3]!, bytes: records[2]!.bytes },
    ]
    t.equal(
      judgeHeartbeats(host, key, swapped, undefined, now).state,
      'replayed',
      'two heartbeats reordered',
    )

    const web2 = chain(key, 1, { who: 'web2' })
    t.equal(
      judgeHeartbeats(host, key, web2, undefined, now).state,
      'replayed',
      'a record of another host',
    )

    const seen = judgeHeartbeats(host, key, records, undefined, now).head!
    v = judgeHeartbeats(host, key, records.slice(0, 2), seen, now)
    t.equal(v.state, 'replayed', 'the newest heartbeats deleted since the last look')
    t.match(v.detail, /the newest heartbeat is 2, but 4 was verified/)
    t.equal(judgeHeartbeats(host, key, [], seen, now).state, 'replayed', 'every heartbeat deleted')
  },
)

t.test(
  'chain broken: a deleted heartbeat, a fork, a rewritten one, a bad first link',
  async (t) => {
    const key = newKey()
    const records = chain(key, 5)
    let v = judgeHeartbeats(
      host,
      key,
      [records[0]!, records[1]!, records[3]!, records[4]!],
      undefined,
      now,
    )
    t.equal(v.state, 'chain broken')
    t.match(v.detail, /heartbeat 3 is missing/)

    const fork = chain(key, 5, { lastAt: new Date(now.getTime() - 20_000) }) // same key, other bytes
    v = judgeHeartbeats(host, key, [...records.slice(0, 3), fork[3]!], undefined, now)
    t.equal(v.state, 'chain broken')
    t.match(v.detail, /000000000004\.json does not follow heartbeat 3/)

    const seen = judgeHeartbeats(host, key, records.slice(0, 3), undefined, now).head!
    v = judgeHeartbeats(host, key, fork.slice(2), seen, now)
    t.equal(v.state, 'chain broken', 'the heartbeat verified before was rewritten')
    t.match(v.detail, /differs from the heartbeat 3 verified/)
    v = judgeHeartbeats(host, key, records.slice(3), seen, now)
    t.equal(v.state, 'chain broken', 'the heartbeats since the last look are gone')
  },
)
