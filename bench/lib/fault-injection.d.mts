export function runFaultInjection(options: {
  kills?: number
  seed?: number
  store: string
  storeArgs?: string[]
  log?: (line: string) => void
}): Promise<{
  runs: number
  killed: number
  restores: number
  snapshots: number
  committedByKilled: number
}>
