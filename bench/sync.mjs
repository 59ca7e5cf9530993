#!/usr/bin/env node
// The sync agent against restic and rclone (crypt remote), side by side in one run, on each S3
// server (MinIO and SeaweedFS, over TLS unless --plain), every tool through the same counting
// proxy. Three data sets — mixed (2,000 files of 1–64 KiB, 20 of 1–8 MiB, 2 of 128 MiB),
// many-small (20,000 files of 4 KiB) and tiny (200,000 files of 0–2 KiB in deep directories) —
// in four phases: initial backup, no-change pass, a pass after changing 4 KiB in 1 % of the
// files, full restore (checked byte for byte). Per run: wall time, CPU (user + sys), peak RSS,
// bytes uploaded, requests; the agent / restic ratios against the goals; and the agent's peak
// RSS on tiny at a tenth of its size, to show memory stays flat as the data set grows.
// Usage: bench/sync.sh [--quick] [--plain] [--servers minio,seaweedfs] [--sets mixed,many-small,tiny]
//                      [--json out.json]
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { startCountingProxy } from './lib/counting-proxy.mjs'
import { s3ServerVersion, startS3Server } from './lib/s3-server.mjs'
import { change, dataSets, generate } from './lib/data-sets.mjs'
import { describeTree } from './lib/tree.mjs'

const root = path.dirname(import.meta.dirname)
const args = process.argv.slice(2)
const flag = (name) => args.includes(name)
const value = (name, fallback) => (flag(name) ? args[args.indexOf(name) + 1] : fallback)
const quick = flag('--quick')
const tls = !flag('--plain')
const jsonOut = value('--json', undefined)
const servers = value('--servers', 'minio,seaweedfs').split(',')
const setNames = value('--sets', 'mixed,many-small,tiny').split(',')
const KiB = 1024
const MiB = 1024 * KiB

for (const tool of ['restic', 'rclone', '/usr/bin/time', ...servers.map((s) => (s === 'minio' ? 'minio' : 'weed'))]) {
  try {
    execFileSync(tool === '/usr/bin/time' ? tool : 'which', tool === '/usr/bin/time' ? ['true'] : [tool], {
      stdio: 'ignore',
    })
  } catch {
    console.error(`sync bench: ${tool} is missing`)
    console.error('  hint: bench/sync.sh puts the pinned builds of scripts/go-tools.sh on PATH; apt-get install rclone time')
    process.exit(2)
  }
}
const versions = {
  restic: execFileSync('restic', ['version']).toString().split(' ')[1],
  rclone: execFileSync('rclone', ['version']).toString().split('\n')[0].split(' ')[1],
  node: process.version,
  ...Object.fromEntries(servers.map((s) => [s, s3ServerVersion(s)])),
}

const work = process.env.KEYSTONE_BENCH_DIR ?? '/var/tmp/keystone-bench-sync'
rmSync(work, { recursive: true, force: true })
mkdirSync(work, { recursive: true })

// ---- data sets -------------------------------------------------------------------------
const scale = quick ? 0.1 : 1
const SETS = dataSets(scale)
// rclone writes one object per file: on tiny that is 200,000 PUTs a pass, minutes for a figure
// that says nothing new about the agent (many-small shows the same per-file cost).
const TOOLS_OF = { mixed: ['agent', 'restic', 'restic-off', 'rclone'], 'many-small': ['agent', 'restic', 'restic-off', 'rclone'], tiny: ['agent', 'restic', 'restic-off'] }

// ---- the tools -------------------------------------------------------------------------
const mainJs = path.join(root, 'dist/cli/main.js')
const rcloneConf = path.join(work, 'rclone.conf')
writeFileSync(rcloneConf, '')
const obscured = execFileSync('rclone', ['obscure', 'keystone-bench-password']).toString().trim()

function tools(server, proxy, id) {
  const agentDir = path.join(work, `agent-${id}`)
  const ca = server.caFile
  const agent = (...rest) => [process.execPath, mainJs, 'agent', ...rest, '--agent-dir', agentDir]
  const restic = (compression) => ({
    env: {
      ...server.credentials,
      RESTIC_REPOSITORY: `s3:${proxy.endpoint}/bench-restic-${compression}-${id}`,
      RESTIC_PASSWORD: 'keystone-bench-password',
      RESTIC_CACHE_DIR: path.join(work, `restic-cache-${compression}-${id}`),
    },
    init: ['restic', ...(ca ? ['--cacert', ca] : []), 'init'],
    backup: (data) => ['restic', ...(ca ? ['--cacert', ca] : []), 'backup', '--quiet', '--compression', compression, data],
    restore: (target) => ['restic', ...(ca ? ['--cacert', ca] : []), 'restore', 'latest', '--quiet', '--target', target],
    restored: (target, data) => path.join(target, data),
  })
  const rclone = (...rest) => ['rclone', ...(ca ? ['--ca-cert', ca] : []), ...rest]
  return {
    agent: {
      env: {},
      init: agent(
        'init',
        `s3://bench-agent-${id}/host`,
        '--endpoint',
        proxy.endpoint,
        '--s3-credentials',
        server.credentialsFile,
        ...(ca ? ['--s3-ca', ca] : []),
        '--write-recovery-key',
        path.join(work, `agent-${id}.recovery`),
      ),
      backup: (data) => agent('backup', data),
      restore: (target) => agent('restore', 'latest', '--target', target),
      restored: (target, data) => path.join(target, data),
    },
    restic: restic('auto'),
    'restic-off': restic('off'),
    rclone: {
      env: {
        RCLONE_CONFIG: rcloneConf,
        RCLONE_CONFIG_S3_TYPE: 's3',
        RCLONE_CONFIG_S3_PROVIDER: server.kind === 'minio' ? 'Minio' : 'SeaweedFS',
        RCLONE_CONFIG_S3_ENDPOINT: proxy.endpoint,
        RCLONE_CONFIG_S3_ACCESS_KEY_ID: server.credentials.AWS_ACCESS_KEY_ID,
        RCLONE_CONFIG_S3_SECRET_ACCESS_KEY: server.credentials.AWS_SECRET_ACCESS_KEY,
        RCLONE_CONFIG_S3_REGION: 'us-east-1',
        RCLONE_CONFIG_SECRET_TYPE: 'crypt',
        RCLONE_CONFIG_SECRET_REMOTE: `s3:bench-rclone-${id}`,
        RCLONE_CONFIG_SECRET_PASSWORD: obscured,
      },
      init: rclone('mkdir', `s3:bench-rclone-${id}`),
      backup: (data) => rclone('sync', data, 'secret:'),
      restore: (target) => rclone('copy', 'secret:', target),
      restored: (target) => target,
    },
  }
}

function run(proxy, argv, env) {
  const timeFile = path.join(work, 'time.out')
  const before = proxy.snapshot()
  // Each tool gets the CA through its own option; a bundle from the environment would only
  // confuse the comparison.
  const { AWS_CA_BUNDLE, SSL_CERT_FILE, ...inherited } = process.env
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', '%e %U %S %M', '-o', timeFile, ...argv], {
      env: { ...inherited, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    child.once('close', (code) => {
      const after = proxy.snapshot()
      if (code !== 0) return reject(new Error(`${argv.join(' ')} exited ${code}: ${stderr}`))
      const [wall, user, sys, rssKb] = readFileSync(timeFile, 'utf8').trim().split('\n').at(-1).split(' ').map(Number)
      resolve({
        wall,
        user,
        sys,
        cpu: user + sys,
        rssMiB: rssKb / 1024,
        uploadedMiB: (after.uploadedBytes - before.uploadedBytes) / MiB,
        requests: after.requests - before.requests,
        put: after.put - before.put,
        head: after.head - before.head,
      })
    })
  })
}

// What every tool must give back byte for byte: each file's path, size and content (rclone
// keeps neither modes nor directory times, so those are left out for all alike).
const contents = (dir) =>
  Object.fromEntries(
    Object.entries(describeTree(dir))
      .filter(([, d]) => d.startsWith('file '))
      .map(([rel, d]) => {
        const [, , size, , hash] = d.split(' ')
        return [rel, `${size} ${hash}`]
      }),
  )
function sameTree(expected, dir) {
  const got = contents(dir)
  const keys = Object.keys(expected)
  return keys.length === Object.keys(got).length && keys.every((k) => got[k] === expected[k])
}

// One data set on one server: every tool, every phase.
async function benchSet(server, proxy, set, files, toolNames, results) {
  const data = path.join(work, `data-${set}`)
  rmSync(data, { recursive: true, force: true })
  generate(data, files)
  let expected = contents(data)
  const bytes = files.reduce((n, [, size]) => n + size, 0)
  console.error(`${server.kind} ${set}: ${files.length} files, ${(bytes / MiB).toFixed(0)} MiB`)
  const id = `${server.kind}-${set}-${files.length}`.toLowerCase()
  const t = tools(server, proxy, id)
  // Not execFileSync: the proxy runs in this process and must keep answering.
  for (const tool of toolNames) await run(proxy, t[tool].init, t[tool].env)
  for (const phase of ['initial', 'no-change', 'change-1%', 'restore']) {
    if (phase === 'change-1%') {
      console.error(`  changed 4 KiB in ${change(data, files)} files`)
      expected = contents(data)
    }
    for (const tool of toolNames) {
      const target = path.join(work, `restore-${tool}`)
      rmSync(target, { recursive: true, force: true })
      const argv = phase === 'restore' ? t[tool].restore(target) : t[tool].backup(data)
      const r = await run(proxy, argv, t[tool].env)
      if (phase === 'restore') {
        if (!sameTree(expected, t[tool].restored(target, data))) throw new Error(`${tool} restored ${set} wrongly`)
        rmSync(target, { recursive: true, force: true })
      }
      results.push({ server: server.kind, set, files: files.length, phase, tool, ...r })
      console.error(
        `  ${phase.padEnd(9)} ${tool.padEnd(10)} ${r.wall.toFixed(2)} s, cpu ${r.user.toFixed(2)} + ${r.sys.toFixed(2)} s, rss ${r.rssMiB.toFixed(0)} MiB, up ${r.uploadedMiB.toFixed(1)} MiB, ${r.requests} requests (${r.put} PUT, ${r.head} HEAD)`,
      )
    }
  }
  rmSync(data, { recursive: true, force: true })
}

// ---- the run ---------------------------------------------------------------------------
const results = []
const growth = []
for (const kind of servers) {
  const server = await startS3Server({ kind, tls, dir: work })
  const proxy = await startCountingProxy(server.endpoint, server.certificates)
  try {
    for (const set of setNames) await benchSet(server, proxy, set, SETS[set](), TOOLS_OF[set], results)
    // The same tiny tree at a tenth of its size, agent only: what grows with the data set.
    if (setNames.includes('tiny')) {
      const small = []
      await benchSet(server, proxy, 'tiny', SETS.tiny(20000 * scale), ['agent'], small)
      growth.push(...small)
    }
  } finally {
    await proxy.close()
    await server.stop()
  }
}

// ---- the tables ------------------------------------------------------------------------
const find = (r, tool, list = results) =>
  list.find((x) => x.server === r.server && x.set === r.set && x.phase === r.phase && x.tool === tool && x.files === r.files)
const lines = [
  `Sync benchmark: keystone agent vs restic ${versions.restic} (compression auto, and off) vs rclone ${versions.rclone} (crypt remote), over ${tls ? 'TLS' : 'plain HTTP'} on loopback, node ${versions.node}, ${new Date().toISOString().slice(0, 10)}${quick ? ' (quick: 10 % data)' : ''}`,
  ...servers.map((s) => `${s}: ${versions[s]}`),
  '',
  '| server | data set | phase | tool | wall s | CPU s (user + sys) | peak RSS MiB | uploaded MiB | requests (PUT / HEAD) | agent / restic (wall) | agent / restic off (wall) |',
  '|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|',
]
for (const r of results) {
  const ratio = (tool) => (r.tool === 'agent' && find(r, tool) ? (r.wall / find(r, tool).wall).toFixed(2) : '')
  lines.push(
    `| ${r.server} | ${r.set} | ${r.phase} | ${r.tool} | ${r.wall.toFixed(2)} | ${r.cpu.toFixed(2)} (${r.user.toFixed(2)} + ${r.sys.toFixed(2)}) | ${r.rssMiB.toFixed(0)} | ${r.uploadedMiB.toFixed(2)} | ${r.requests} (${r.put} / ${r.head}) | ${ratio('restic')} | ${ratio('restic-off')} |`,
  )
}

// The goals, each line a verdict the reader can check against the table above.
const verdicts = []
for (const r of results.filter((x) => x.tool === 'agent')) {
  const restic = find(r, 'restic')
  if (restic === undefined) continue
  const ratio = r.wall / restic.wall
  const goal = r.phase === 'no-change' ? 0.5 : 0.8
  verdicts.push([`${r.server} ${r.set} ${r.phase}: wall ${ratio.toFixed(2)} × restic`, ratio <= goal, `≤ ${goal}`])
  if (r.phase === 'restore' && r.set !== 'mixed')
    verdicts.push([`${r.server} ${r.set} restore: CPU ${r.cpu.toFixed(2)} s vs restic ${restic.cpu.toFixed(2)} s`, r.cpu <= restic.cpu, '≤ restic'])
  if (r.phase === 'change-1%')
    verdicts.push([`${r.server} ${r.set} change-1%: uploaded ${r.uploadedMiB.toFixed(2)} MiB vs restic ${restic.uploadedMiB.toFixed(2)} MiB`, r.uploadedMiB <= restic.uploadedMiB, '≤ restic'])
  verdicts.push([`${r.server} ${r.set} ${r.phase}: peak RSS ${r.rssMiB.toFixed(0)} MiB`, r.rssMiB <= 200, '≤ 200 MiB'])
}
lines.push('', '| goal | met | target |', '|---|---|---|')
for (const [what, met, target] of verdicts) lines.push(`| ${what} | ${met ? 'yes' : '**no**'} | ${target} |`)
if (growth.length > 0) {
  lines.push('', 'Peak RSS of the agent as tiny grows 10×:', '', '| server | phase | files | peak RSS MiB | files ×10 | peak RSS MiB |', '|---|---|---:|---:|---:|---:|')
  for (const g of growth) {
    const big = results.find((x) => x.server === g.server && x.set === 'tiny' && x.phase === g.phase && x.tool === 'agent')
    if (big) lines.push(`| ${g.server} | ${g.phase} | ${g.files} | ${g.rssMiB.toFixed(0)} | ${big.files} | ${big.rssMiB.toFixed(0)} |`)
  }
}
console.log(lines.join('\n'))
if (jsonOut !== undefined) writeFileSync(jsonOut, JSON.stringify({ versions, tls, quick, results, growth }, null, 2))
rmSync(work, { recursive: true, force: true })
