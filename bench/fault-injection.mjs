#!/usr/bin/env node
// The sync agent's fault injection at scale: SIGKILL at 500 (or --kills N) random points of
// backups, with the checks of test/agent/crash.test.ts after each (bench/lib/fault-injection.mjs).
// Usage: node bench/fault-injection.mjs [--kills 500] [--seed 1] [--store file:///path]
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { runFaultInjection } from './lib/fault-injection.mjs'

const args = process.argv.slice(2)
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback)
const scratch = mkdtempSync(path.join(tmpdir(), 'keystone-faults-store-'))
const started = Date.now()
try {
  const result = await runFaultInjection({
    kills: Number(option('--kills', '500')),
    seed: Number(option('--seed', '1')),
    store: option('--store', `file://${path.join(scratch, 'store')}`),
    log: (line) => process.stderr.write(line + '\n'),
  })
  console.log(
    `fault injection: ${result.killed} SIGKILLs in ${result.runs} backups, ${result.restores} restores checked byte for byte, ${result.snapshots} snapshots (${result.committedByKilled} committed by runs killed before they exited); converged; ${((Date.now() - started) / 1000).toFixed(0)} s`,
  )
} catch (error) {
  console.error(error.message)
  process.exitCode = 1
} finally {
  rmSync(scratch, { recursive: true, force: true })
}
