// Durations as host files write them (`90s`, `15m`, `1h`, `1d`, the schema's pattern): seconds.
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const

export function durationSeconds(text: string): number {
  return Number(text.slice(0, -1)) * UNIT_SECONDS[text.slice(-1) as keyof typeof UNIT_SECONDS]
}
