// Shared by the benchmarks: run a command as a fresh process, time it, summarise the samples.
// Wall-clock time of the whole process is what a user waits for, so that is what is measured.
import { spawnSync } from 'node:child_process'
import { appendFileSync, existsSync } from 'node:fs'
import path from 'node:path'

export const repoRoot = path.resolve(import.meta.dirname, '..')
export const mainJs = path.join(repoRoot, 'dist/cli/main.js')

// An error that stops a benchmark, printed as `bench: <what>` and `  hint: <fix>`.
export class BenchError extends Error {
  constructor(message, { hint, exitCode = 1 } = {}) {
    super(message)
    this.hint = hint
    this.exitCode = exitCode
  }
}

// Runs a benchmark's main; like the CLI it sets the exit code rather than forcing it, so that
// every `finally` (temporary fleets) runs. On Ctrl-C or SIGTERM, `checkpoint()` (called between
// runs) throws, and the benchmark stops through its `finally`.
export async function runBench(main) {
  let interrupted = false
  const stop = () => {
    interrupted = true
  }
  process.on('SIGINT', stop).on('SIGTERM', stop)
  const checkpoint = () => {
    if (interrupted) throw new BenchError('interrupted', { exitCode: 130 })
  }
  try {
    await main({ checkpoint })
  } catch (error) {
    console.error(`bench: ${error.message}`)
    if (error.hint !== undefined) console.error(`  hint: ${error.hint}`)
    process.exitCode = error.exitCode ?? 1
  } finally {
    process.off('SIGINT', stop).off('SIGTERM', stop)
  }
}

// The benchmarks time the built CLI; a missing build is a setup problem, not a slow CLI.
export function requireBuild() {
  if (!existsSync(mainJs)) {
    throw new BenchError(`${path.relative(process.cwd(), mainJs)} is missing`, {
      hint: 'run `npm run build` (or bench/run-all.sh, which builds first)',
    })
  }
}

// Runs argv[0] with the rest as arguments, no shell; returns its wall time in ms and its output.
// A failing command stops the benchmark: timing a usage error would measure nothing useful.
export function timeRun(argv, { cwd = repoRoot, env = {}, captureStdout = false } = {}) {
  const start = process.hrtime.bigint()
  const result = spawnSync(argv[0], argv.slice(1), {
    cwd,
    // KEYSTONE_* from the caller's shell must not change what is measured.
    env: { ...process.env, KEYSTONE_FLEET: '', KEYSTONE_DEBUG: '', ...env },
    stdio: ['ignore', captureStdout ? 'pipe' : 'ignore', 'pipe'],
    encoding: 'utf8',
    maxBuffer: 64 * 2 ** 20,
  })
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  // Ctrl-C reaches the child too, and spawnSync returns before our own handler can run.
  if (result.signal === 'SIGINT' || result.signal === 'SIGTERM') {
    throw new BenchError('interrupted', { exitCode: 130 })
  }
  if (result.error !== undefined || result.status !== 0) {
    const shorten = (arg) =>
      arg === process.execPath
        ? 'node'
        : arg.startsWith(repoRoot + path.sep)
          ? path.relative(repoRoot, arg)
          : arg
    const shown = argv.map(shorten).join(' ')
    const why = result.error?.message ?? `exit ${result.status ?? result.signal}`
    const stderr = (result.stderr ?? '').trimEnd()
    throw new BenchError(`\`${shown}\` failed (${why})${stderr === '' ? '' : `:\n${stderr}`}`)
  }
  return { ms, stdout: result.stdout ?? '' }
}

// min, median and p90 (nearest rank) of a list of milliseconds.
export function summarize(samples) {
  if (samples.length === 0) {
    throw new BenchError('nothing was measured', {
      hint: 'pass --runs or --rounds 1 or more',
      exitCode: 2,
    })
  }
  const sorted = [...samples].sort((a, b) => a - b)
  const n = sorted.length
  const median = n % 2 === 1 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
  return { n, min: sorted[0], median, p90: sorted[Math.ceil(0.9 * n) - 1], max: sorted[n - 1] }
}

export const fmt = (ms) => `${ms.toFixed(1)} ms`

// `--runs 30` style flags with numeric or string values, and `--flag` booleans.
export function parseFlags(argv, defaults) {
  const flags = { ...defaults }
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '')
    if (!argv[i].startsWith('--') || !(name in defaults)) {
      const known = Object.keys(defaults).map((k) => `--${k}`)
      throw new BenchError(`unknown argument \`${argv[i]}\``, {
        hint: `known flags: ${known.join(' ')}`,
        exitCode: 2,
      })
    }
    if (typeof defaults[name] === 'boolean') flags[name] = true
    else if (typeof defaults[name] === 'number') {
      const value = Number(argv[++i])
      if (!Number.isInteger(value) || value < 0) {
        throw new BenchError(`--${name}: expected a whole number, got \`${argv[i]}\``, {
          exitCode: 2,
        })
      }
      flags[name] = value
    } else flags[name] = argv[++i] ?? ''
  }
  return flags
}

// bench/run-all.sh collects one Markdown table row per benchmark through `--rows <file>`.
export function appendRow(file, benchmark, result, goal) {
  if (file !== '') appendFileSync(file, `| ${benchmark} | ${result} | ${goal} |\n`)
}

export function platform() {
  return `node ${process.version}, ${process.platform} ${process.arch}`
}
