import t from 'tap'
import { keep } from '../../cli/agent/maintenance/retention.js'

// The retention policy of `keystone agent prune`, decided as restic's `forget` does.
const at = (iso: string, group = 'g') => ({ id: iso, time: iso, group })
const hourly = Array.from({ length: 72 }, (_, h) =>
  at(new Date(Date.UTC(2026, 10, 20, h, 30)).toISOString()),
)

t.test('keep-last keeps the newest N of each group', async (t) => {
  const kept = keep([...hourly, at('2026-01-01T00:00:00.000Z', 'other')], { last: 3 })
  t.same(
    [...kept].sort(),
    [hourly[69]!.id, hourly[70]!.id, hourly[71]!.id, '2026-01-01T00:00:00.000Z'].sort(),
  )
})

t.test(
  'keep-daily keeps the newest snapshot of each of the last N days that have one',
  async (t) => {
    const kept = keep(hourly, { daily: 2 })
    t.same([...kept].sort(), ['2026-11-21T23:30:00.000Z', '2026-11-22T23:30:00.000Z'])
  },
)

t.test('rules add up; a snapshot kept by two rules counts once', async (t) => {
  const kept = keep(hourly, { last: 1, hourly: 3, daily: 3 })
  t.same([...kept].sort(), [
    '2026-11-20T23:30:00.000Z',
    '2026-11-21T23:30:00.000Z',
    '2026-11-22T21:30:00.000Z',
    '2026-11-22T22:30:00.000Z',
    '2026-11-22T23:30:00.000Z',
  ])
})

t.test(
  'weekly buckets are ISO weeks (Monday to Sunday), monthly are calendar months',
  async (t) => {
    const days = [
      '2026-11-01',
      '2026-11-08',
      '2026-11-09',
      '2026-11-15',
      '2026-11-16',
      '2026-12-31',
      '2027-01-03',
    ].map((d) => at(`${d}T12:00:00.000Z`))
    t.same([...keep(days, { weekly: 3 })].sort(), [
      '2026-11-15T12:00:00.000Z',
      '2026-11-16T12:00:00.000Z',
      '2027-01-03T12:00:00.000Z',
    ])
    t.same([...keep(days, { monthly: 2 })].sort(), [
      '2026-12-31T12:00:00.000Z',
      '2027-01-03T12:00:00.000Z',
    ])
  },
)

t.test('an empty policy keeps nothing (the command refuses it before)', async (t) => {
  t.equal(keep(hourly, {}).size, 0)
})
