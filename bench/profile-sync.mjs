#!/usr/bin/env node
// Where the agent's time and memory go, phase by phase, on the benchmark's `tiny` set (or any
// other) in a local-folder store: no server, no network, only the agent. For each phase (initial
// backup, no-change pass, restore): wall, user and system CPU, peak RSS, and the peaks of the
// main thread's heap and of its buffers outside the heap, sampled every 20 ms. With --strace,
// the restore runs again under `strace -c -f` and the system calls that cost most are printed;
// with --cpu-prof, V8 profiles of every thread land in the work directory (open them in Chrome's
// DevTools).
// Usage: node bench/profile-sync.mjs [--set tiny] [--files 20000] [--strace] [--cpu-prof]
//        (work directory: $KEYSTONE_BENCH_DIR, else /var/tmp/keystone-profile-sync)
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { dataSets, generate } from './lib/data-sets.mjs'

const root = path.dirname(import.meta.dirname)
const args = process.argv.slice(2)
const flag = (name) => args.includes(name)
const value = (name, fallback) => (flag(name) ? args[args.indexOf(name) + 1] : fallback)
const setName = value('--set', 'tiny')
const count = Number(value('--files', '20000'))
const work = process.env.KEYSTONE_BENCH_DIR ?? '/var/tmp/keystone-profile-sync'
const mainJs = path.join(root, 'dist/cli/main.js')

rmSync(work, { recursive: true, force: true })
mkdirSync(work, { recursive: true })
const sets = dataSets(1)
const files = setName === 'tiny' ? sets.tiny(count) : sets[setName]()
const data = path.join(work, 'data')
generate(data, files)
console.error(`${setName}: ${files.length} files in ${data}`)

// Peaks of the main thread, written to a file at exit (the agent's stdout and stderr are its own).
const peaks = path.join(work, 'peaks.mjs')
writeFileSync(
  peaks,
  `import { writeFileSync } from 'node:fs'
const max = { heapUsed: 0, external: 0 }
const sample = () => { const m = process.memoryUsage(); max.heapUsed = Math.max(max.heapUsed, m.heapUsed); max.external = Math.max(max.external, m.external) }
setInterval(sample, 20).unref()
process.on('exit', () => { sample(); writeFileSync(process.env.KEYSTONE_PEAKS_FILE, JSON.stringify(max)) })
`,
)

const agentDir = path.join(work, 'agent')
const target = path.join(work, 'restored')
// At exit, even a failed one: the profiles and strace's output stay; the trees, the repository
// and its keys go.
process.once('exit', () => {
  for (const made of [data, target, agentDir, path.join(work, 'store'), path.join(work, 'recovery.key')])
    rmSync(made, { recursive: true, force: true })
})
const agent = (...rest) => [mainJs, 'agent', ...rest, '--agent-dir', agentDir]
execFileSync(process.execPath, agent('init', `file://${work}/store`, '--write-recovery-key', path.join(work, 'recovery.key')), {
  stdio: 'ignore',
})

const MiB = 1024 * 1024
function phase(name, argv) {
  const timeFile = path.join(work, 'time.out')
  const peaksFile = path.join(work, 'peaks.json')
  const node = [process.execPath, '--import', peaks, ...(flag('--cpu-prof') ? ['--cpu-prof', `--cpu-prof-dir=${work}/cpu-${name}`] : [])]
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', '-o', timeFile, ...node, ...argv], {
    env: { ...process.env, KEYSTONE_PEAKS_FILE: peaksFile },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  if (r.status !== 0) throw new Error(`${name} exited ${r.status}`)
  const [wall, user, sys, rssKb] = readFileSync(timeFile, 'utf8').trim().split('\n').at(-1).split(' ').map(Number)
  const { heapUsed, external } = JSON.parse(readFileSync(peaksFile, 'utf8'))
  return { phase: name, wall, user, sys, rss: rssKb / 1024, heap: heapUsed / MiB, external: external / MiB }
}

const rows = [
  phase('initial', agent('backup', data)),
  phase('no-change', agent('backup', data)),
  phase('restore', agent('restore', 'latest', '--target', target)),
]
console.log(`agent on ${setName} (${files.length} files), local-folder store in ${work}, node ${process.version}`)
console.log('')
console.log('| phase | wall s | user s | sys s | peak RSS MiB | main heap MiB | main buffers MiB |')
console.log('|---|---:|---:|---:|---:|---:|---:|')
for (const r of rows)
  console.log(`| ${r.phase} | ${r.wall.toFixed(2)} | ${r.user.toFixed(2)} | ${r.sys.toFixed(2)} | ${r.rss.toFixed(0)} | ${r.heap.toFixed(0)} | ${r.external.toFixed(0)} |`)

if (flag('--strace')) {
  rmSync(target, { recursive: true, force: true })
  const out = path.join(work, 'strace.txt')
  const r = spawnSync('strace', ['-c', '-f', '-o', out, process.execPath, ...agent('restore', 'latest', '--target', target)], {
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  if (r.error !== undefined) {
    console.error(`profile: strace cannot run (${r.error.code}); apt-get install strace`)
    process.exit(2)
  }
  // strace -c: "% time, seconds, usecs/call, calls, errors, syscall", sorted by time.
  const lines = readFileSync(out, 'utf8').split('\n').filter((l) => /^\s*\d/.test(l) && !/total$/.test(l))
  console.log('')
  console.log('Restore under strace -c -f, the system calls that cost most (futex and epoll are threads waiting):')
  console.log('')
  console.log('| system call | calls | seconds |')
  console.log('|---|---:|---:|')
  for (const l of lines.slice(0, 10)) {
    const f = l.trim().split(/\s+/)
    console.log(`| ${f.at(-1)} | ${f[3]} | ${f[1]} |`)
  }
}
