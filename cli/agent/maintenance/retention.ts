// Which snapshots a retention policy keeps, as restic's `forget` decides: the `last` newest,
// and for each period the newest snapshot of each of the most recent N periods that have one.
// Applied per group (host and paths). Periods are UTC, so every device decides alike.
export interface Policy {
  last?: number
  hourly?: number
  daily?: number
  weekly?: number
  monthly?: number
}

export interface Dated {
  id: string
  time: string // ISO 8601
  group: string
}

const pad = (n: number) => String(n).padStart(2, '0')

// ISO week: weeks start on Monday; the week-year is the year of that week's Thursday.
function isoWeek(d: Date): string {
  const thursday = new Date(
    Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 3 - ((d.getUTCDay() + 6) % 7)),
  )
  const firstThursday = new Date(Date.UTC(thursday.getUTCFullYear(), 0, 4))
  const week =
    1 +
    Math.round(
      (thursday.getTime() - firstThursday.getTime()) / 86_400_000 / 7 -
        (((firstThursday.getUTCDay() + 6) % 7) - 3) / 7,
    )
  return `${thursday.getUTCFullYear()}-W${pad(week)}`
}

const PERIODS: [keyof Policy, (d: Date) => string][] = [
  ['hourly', (d) => d.toISOString().slice(0, 13)],
  ['daily', (d) => d.toISOString().slice(0, 10)],
  ['weekly', isoWeek],
  ['monthly', (d) => d.toISOString().slice(0, 7)],
]

export function isEmptyPolicy(p: Policy): boolean {
  return Object.values(p).every((n) => n === undefined || n <= 0)
}

export function keep(snapshots: readonly Dated[], policy: Policy): Set<string> {
  const kept = new Set<string>()
  const groups = new Map<string, Dated[]>()
  for (const s of snapshots) groups.set(s.group, [...(groups.get(s.group) ?? []), s])
  for (const list of groups.values()) {
    const newest = [...list].sort(
      (a, b) => b.time.localeCompare(a.time) || b.id.localeCompare(a.id),
    )
    newest.slice(0, policy.last ?? 0).forEach((s) => kept.add(s.id))
    for (const [rule, bucket] of PERIODS) {
      let remaining = policy[rule] ?? 0
      let last: string | undefined
      for (const s of newest) {
        if (remaining <= 0) break
        const b = bucket(new Date(s.time))
        if (b === last) continue
        last = b
        kept.add(s.id)
        remaining--
      }
    }
  }
  return kept
}
