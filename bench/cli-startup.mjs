#!/usr/bin/env node
// Benchmark: how long `keystone --help` takes from a fresh process, beside the floor of
// `node -e ''` and a one-command yargs program, so that a reader sees what is Keystone's, what is
// yargs' and what is Node's.
// Usage: node bench/cli-startup.mjs [--runs 30] [--warmup 3] [--hyperfine] [--rows <file>]
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import {
  appendRow,
  fmt,
  mainJs,
  parseFlags,
  platform,
  requireBuild,
  runBench,
  summarize,
  timeRun,
} from './measure.mjs'

const GOAL_MS = 150

await runBench(async ({ checkpoint }) => {
  const flags = parseFlags(process.argv.slice(2), {
    runs: 30,
    warmup: 3,
    hyperfine: false,
    rows: '',
  })
  requireBuild()
  const commands = [
    { label: "node -e ''  (Node floor)", argv: [process.execPath, '-e', ''] },
    {
      label: 'yargs hello --help',
      argv: [
        process.execPath,
        path.join(import.meta.dirname, 'fixtures/yargs-hello.mjs'),
        '--help',
      ],
    },
    { label: 'keystone --help', argv: [process.execPath, mainJs, '--help'] },
  ]
  const samples = commands.map(() => [])
  // Interleaved, so that a busy moment on the machine hits both commands alike.
  for (let run = -flags.warmup; run < flags.runs; run++) {
    checkpoint()
    commands.forEach((command, i) => {
      const { ms } = timeRun(command.argv)
      if (run >= 0) samples[i].push(ms)
    })
  }
  const summaries = samples.map(summarize)
  const [floor, yargsHello, help] = summaries

  console.log(
    `CLI startup: a fresh process per run, ${help.n} run${help.n === 1 ? '' : 's'} after ${flags.warmup} warm-up${flags.warmup === 1 ? '' : 's'} (${platform()})`,
  )
  console.log(`${''.padEnd(26)}${'min'.padStart(10)}${'median'.padStart(10)}${'p90'.padStart(10)}`)
  commands.forEach((command, i) => {
    const { min, median, p90 } = summaries[i]
    console.log(
      `${command.label.padEnd(26)}${[min, median, p90].map((v) => fmt(v).padStart(10)).join('')}`,
    )
  })
  console.log(`keystone above the Node floor: ${fmt(help.median - floor.median)} (median)`)
  console.log(
    `keystone above a one-command yargs program: ${fmt(help.median - yargsHello.median)} (median)`,
  )
  const met = help.median < GOAL_MS
  console.log(`goal: keystone --help median < ${GOAL_MS} ms: ${met ? 'met' : 'MISSED'}`)
  appendRow(
    flags.rows,
    '`keystone --help` (cold start)',
    `${help.median.toFixed(0)} ms median, p90 ${help.p90.toFixed(0)} ms (Node floor ${floor.median.toFixed(0)} ms, one-command yargs program ${yargsHello.median.toFixed(0)} ms)`,
    `< ${GOAL_MS} ms`,
  )

  // A cross-check by an independent tool, when it is installed; the figures above stand alone.
  if (flags.hyperfine) {
    // -N: no intermediate shell, as above; hyperfine splits each command like a shell would.
    const args = ['-N', '--warmup', String(flags.warmup), '--runs', String(flags.runs)]
    const node = `'${process.execPath}'`
    const names = commands.flatMap((command) => ['-n', command.label.trim()])
    const commandLines = commands.map((command) =>
      [node, ...command.argv.slice(1).map((arg) => `'${arg}'`)].join(' '),
    )
    const result = spawnSync('hyperfine', [...args, ...names, ...commandLines], {
      stdio: 'inherit',
    })
    if (result.error !== undefined) console.log(`hyperfine: not run (${result.error.message})`)
  }
})
