#!/usr/bin/env node
// The sync agent against restic and rclone (crypt remote), side by side in one run, against the
// same local MinIO through a counting proxy. Two data sets — mixed (2,000 files of 1–64 KiB,
// 20 of 1–8 MiB, 2 of 128 MiB) and many-small (20,000 files of 4 KiB) — in four phases: initial
// backup, no-change pass, a pass after changing 4 KiB in 1 % of the files, full restore (checked
// byte for byte). Per run: wall time, CPU, peak RSS, bytes uploaded, requests; and agent/restic.
// Usage: bench/sync.sh [--quick] [--json out.json]
import { execFileSync, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  openSync,
  writeSync,
  closeSync,
} from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { startCountingProxy } from './lib/counting-proxy.mjs'
import { pseudoRandom } from './lib/tree.mjs'

const root = path.dirname(import.meta.dirname)
const args = process.argv.slice(2)
const quick = args.includes('--quick')
const jsonOut = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined
const KiB = 1024
const MiB = 1024 * KiB

for (const tool of ['minio', 'restic', 'rclone', '/usr/bin/time']) {
  try {
    execFileSync(
      tool === '/usr/bin/time' ? tool : 'which',
      tool === '/usr/bin/time' ? ['true'] : [tool],
      { stdio: 'ignore' },
    )
  } catch {
    console.error(`sync bench: ${tool} is missing`)
    console.error(
      '  hint: apt-get install restic rclone time; MinIO as .ci/run builds it (on PATH)',
    )
    process.exit(2)
  }
}
const versions = {
  restic: execFileSync('restic', ['version']).toString().split(' ')[1],
  rclone: execFileSync('rclone', ['version']).toString().split('\n')[0].split(' ')[1],
  node: process.version,
}

const work = process.env.KEYSTONE_BENCH_DIR ?? '/var/tmp/keystone-bench-sync'
rmSync(work, { recursive: true, force: true })
mkdirSync(work, { recursive: true })

// ---- data sets -------------------------------------------------------------------------
const scale = quick ? 0.1 : 1
const SETS = {
  mixed: () => {
    const files = []
    let seed = 1
    for (let i = 0; i < 2000 * scale; i++)
      files.push([`small/d${i % 40}/f${i}.dat`, 1 * KiB + ((seed++ * 7919) % (63 * KiB))])
    for (let i = 0; i < 20 * scale; i++)
      files.push([`medium/m${i}.bin`, 1 * MiB + ((seed++ * 104729) % (7 * MiB))])
    for (let i = 0; i < 2; i++) files.push([`large/l${i}.bin`, Math.round(128 * MiB * scale)])
    return files
  },
  'many-small': () =>
    Array.from({ length: 20000 * scale }, (_, i) => [`d${i % 100}/f${i}.txt`, 4 * KiB]),
}

// Every file different (one seed per file): nothing deduplicates by accident.
function generate(dir, files) {
  files.forEach(([rel, size], i) => {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true })
    writeFileSync(path.join(dir, rel), pseudoRandom(i + 1, size))
  })
}

// 4 KiB changed at a pseudo-random offset in 1 % of the files (every 100th).
function change(dir, files) {
  let changed = 0
  for (let i = 0; i < files.length; i += 100) {
    const [rel, size] = files[i]
    const fd = openSync(path.join(dir, rel), 'r+')
    writeSync(
      fd,
      pseudoRandom(9000 + i, 4 * KiB),
      0,
      4 * KiB,
      Math.max(0, ((i * 2654435761) >>> 0) % Math.max(1, size - 4 * KiB)),
    )
    closeSync(fd)
    changed++
  }
  return changed
}

function digest(dir) {
  const out = new Map()
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const file = path.join(d, name)
      if (statSync(file).isDirectory()) walk(file)
      else
        out.set(
          path.relative(dir, file),
          createHash('sha256').update(readFileSync(file)).digest('hex'),
        )
    }
  }
  walk(dir)
  return out
}

// ---- the S3 server ---------------------------------------------------------------------
const minioPort = 19000 + Math.floor(Math.random() * 1000)
const creds = {
  AWS_ACCESS_KEY_ID: 'keystone-bench',
  AWS_SECRET_ACCESS_KEY: 'keystone-bench-secret',
}
const minio = spawn(
  'minio',
  [
    'server',
    path.join(work, 'minio'),
    '--address',
    `127.0.0.1:${minioPort}`,
    '--console-address',
    `127.0.0.1:${minioPort + 1}`,
    '--quiet',
  ],
  {
    env: {
      ...process.env,
      MINIO_ROOT_USER: creds.AWS_ACCESS_KEY_ID,
      MINIO_ROOT_PASSWORD: creds.AWS_SECRET_ACCESS_KEY,
      MINIO_BROWSER: 'off',
    },
    stdio: 'ignore',
  },
)
process.on('exit', () => minio.kill('SIGKILL'))
for (let i = 0; ; i++) {
  if (
    await fetch(`http://127.0.0.1:${minioPort}/minio/health/ready`).then(
      (r) => r.ok,
      () => false,
    )
  )
    break
  if (i > 300) throw new Error('minio did not start')
  await sleep(100)
}
const minioVersion = execFileSync('minio', ['--version']).toString().split('\n')[0]
const proxy = await startCountingProxy(`http://127.0.0.1:${minioPort}`)
const credentialsFile = path.join(work, 's3-credentials')
writeFileSync(
  credentialsFile,
  `AWS_ACCESS_KEY_ID=${creds.AWS_ACCESS_KEY_ID}\nAWS_SECRET_ACCESS_KEY=${creds.AWS_SECRET_ACCESS_KEY}\n`,
  { mode: 0o600 },
)

// ---- the tools -------------------------------------------------------------------------
const mainJs = path.join(root, 'dist/cli/main.js')
const rcloneConf = path.join(work, 'rclone.conf')
writeFileSync(rcloneConf, '')
const obscured = execFileSync('rclone', ['obscure', 'keystone-bench-password']).toString().trim()

function tools(set) {
  const agentDir = path.join(work, `agent-${set}`)
  const resticEnv = {
    ...creds,
    RESTIC_REPOSITORY: `s3:${proxy.endpoint}/bench-restic-${set}`,
    RESTIC_PASSWORD: 'keystone-bench-password',
    RESTIC_CACHE_DIR: path.join(work, `restic-cache-${set}`),
  }
  const rcloneEnv = {
    RCLONE_CONFIG: rcloneConf,
    RCLONE_CONFIG_S3_TYPE: 's3',
    RCLONE_CONFIG_S3_PROVIDER: 'Minio',
    RCLONE_CONFIG_S3_ENDPOINT: proxy.endpoint,
    RCLONE_CONFIG_S3_ACCESS_KEY_ID: creds.AWS_ACCESS_KEY_ID,
    RCLONE_CONFIG_S3_SECRET_ACCESS_KEY: creds.AWS_SECRET_ACCESS_KEY,
    RCLONE_CONFIG_S3_REGION: 'us-east-1',
    RCLONE_CONFIG_SECRET_TYPE: 'crypt',
    RCLONE_CONFIG_SECRET_REMOTE: `s3:bench-rclone-${set}`,
    RCLONE_CONFIG_SECRET_PASSWORD: obscured,
  }
  return {
    agent: {
      env: {},
      init: [
        process.execPath,
        mainJs,
        'agent',
        'init',
        `s3://bench-agent-${set}/host`,
        '--endpoint',
        proxy.endpoint,
        '--s3-credentials',
        credentialsFile,
        '--agent-dir',
        agentDir,
        '--write-recovery-key',
        path.join(work, `agent-${set}.recovery`),
      ],
      backup: (data) => [
        process.execPath,
        mainJs,
        'agent',
        'backup',
        data,
        '--agent-dir',
        agentDir,
      ],
      restore: (target) => [
        process.execPath,
        mainJs,
        'agent',
        'restore',
        'latest',
        '--target',
        target,
        '--agent-dir',
        agentDir,
      ],
      restored: (target, data) => path.join(target, data),
    },
    restic: {
      env: resticEnv,
      init: ['restic', 'init'],
      backup: (data) => ['restic', 'backup', '--quiet', data],
      restore: (target) => ['restic', 'restore', 'latest', '--quiet', '--target', target],
      restored: (target, data) => path.join(target, data),
    },
    rclone: {
      env: rcloneEnv,
      init: ['rclone', 'mkdir', `s3:bench-rclone-${set}`],
      backup: (data) => ['rclone', 'sync', data, 'secret:'],
      restore: (target) => ['rclone', 'copy', 'secret:', target],
      restored: (target) => target,
    },
  }
}

function run(argv, env) {
  const timeFile = path.join(work, 'time.out')
  const before = proxy.snapshot()
  // The endpoint is plain HTTP on loopback; a CA bundle from the environment only trips rclone.
  const { AWS_CA_BUNDLE, ...inherited } = process.env
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
      const [wall, user, sys, rssKb] = readFileSync(timeFile, 'utf8')
        .trim()
        .split('\n')
        .at(-1)
        .split(' ')
        .map(Number)
      resolve({
        wall,
        cpu: user + sys,
        rssMiB: rssKb / 1024,
        uploadedMiB: (after.uploadedBytes - before.uploadedBytes) / MiB,
        requests: after.requests - before.requests,
        put: after.put - before.put,
        head: after.head - before.head,
        get: after.get - before.get,
        list: after.list - before.list,
      })
    })
  })
}

// ---- the run ---------------------------------------------------------------------------
const results = []
const TOOLS = ['agent', 'restic', 'rclone']
for (const set of Object.keys(SETS)) {
  const files = SETS[set]()
  const data = path.join(work, `data-${set}`)
  generate(data, files)
  const expected = digest(data)
  const bytes = files.reduce((n, [, size]) => n + size, 0)
  console.error(`${set}: ${files.length} files, ${(bytes / MiB).toFixed(0)} MiB`)
  const t = tools(set)
  // Not execFileSync: the proxy runs in this process and must keep answering.
  for (const tool of TOOLS) await run(t[tool].init, t[tool].env)
  for (const phase of ['initial', 'no-change', 'change-1%', 'restore']) {
    if (phase === 'change-1%') console.error(`  changed 4 KiB in ${change(data, files)} files`)
    for (const tool of TOOLS) {
      const target = path.join(work, `restore-${tool}`)
      rmSync(target, { recursive: true, force: true })
      const argv = phase === 'restore' ? t[tool].restore(target) : t[tool].backup(data)
      const r = await run(argv, t[tool].env)
      if (phase === 'restore') {
        const got = digest(t[tool].restored(target, data))
        const same = got.size === expected.size && [...expected].every(([k, v]) => got.get(k) === v)
        if (!same) throw new Error(`${tool} restored ${set} wrongly`)
        rmSync(target, { recursive: true, force: true })
      }
      results.push({ set, phase, tool, ...r })
      console.error(
        `  ${phase.padEnd(9)} ${tool.padEnd(6)} ${r.wall.toFixed(2)} s, cpu ${r.cpu.toFixed(2)} s, rss ${r.rssMiB.toFixed(0)} MiB, up ${r.uploadedMiB.toFixed(1)} MiB, ${r.requests} requests (${r.put} PUT, ${r.head} HEAD)`,
      )
    }
    if (phase === 'change-1%') {
      const now = digest(data)
      expected.clear()
      for (const [k, v] of now) expected.set(k, v)
    }
  }
}
await proxy.close()

// ---- the table -------------------------------------------------------------------------
const lines = [
  `Sync benchmark: keystone agent vs restic ${versions.restic} vs rclone ${versions.rclone} (crypt remote), ${minioVersion} on loopback, node ${versions.node}, ${new Date().toISOString().slice(0, 10)}${quick ? ' (quick: 10 % data)' : ''}`,
  '',
  '| data set | phase | tool | wall s | CPU s | peak RSS MiB | uploaded MiB | requests (PUT / HEAD) | agent / restic (wall) |',
  '|---|---|---|---:|---:|---:|---:|---:|---:|',
]
for (const r of results) {
  const restic = results.find((x) => x.set === r.set && x.phase === r.phase && x.tool === 'restic')
  const ratio = r.tool === 'agent' ? (r.wall / restic.wall).toFixed(2) : ''
  lines.push(
    `| ${r.set} | ${r.phase} | ${r.tool} | ${r.wall.toFixed(2)} | ${r.cpu.toFixed(2)} | ${r.rssMiB.toFixed(0)} | ${r.uploadedMiB.toFixed(1)} | ${r.requests} (${r.put} / ${r.head}) | ${ratio} |`,
  )
}
console.log(lines.join('\n'))
if (jsonOut !== undefined)
  writeFileSync(jsonOut, JSON.stringify({ versions, minio: minioVersion, quick, results }, null, 2))
minio.kill('SIGKILL')
if (!existsSync(work)) process.exit(0)
rmSync(work, { recursive: true, force: true })
