import type { Output } from './output.js'

// Progress of long, named phases (STYLE.md §6): on a terminal one line that ticks with the
// elapsed time; otherwise a start and an end line per phase, which read well in CI logs.
export interface PhaseProgress {
  start(label: string): void
  done(label: string, ms: number): void
  failed(label: string, ms: number): void
}

export const seconds = (ms: number) =>
  ms < 60_000
    ? `${(ms / 1000).toFixed(1)} s`
    : `${Math.floor(ms / 60_000)}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')}s`

export function phaseProgress(output: Output, tty: boolean): PhaseProgress {
  let ticker: NodeJS.Timeout | undefined
  const stop = () => {
    if (ticker !== undefined) clearInterval(ticker)
    ticker = undefined
  }
  return {
    start(label) {
      if (!tty) return output.err(`${label} …`)
      const began = Date.now()
      const draw = () => process.stderr.write(`\r\x1b[K${label} … ${seconds(Date.now() - began)}`)
      draw()
      ticker = setInterval(draw, 1000)
      ticker.unref()
    },
    done(label, ms) {
      stop()
      if (tty) process.stderr.write('\r\x1b[K')
      output.err(`${label} ✓ ${seconds(ms)}`)
    },
    failed(label, ms) {
      stop()
      if (tty) process.stderr.write('\r\x1b[K')
      output.err(`${label} ✗ after ${seconds(ms)}`)
    },
  }
}
