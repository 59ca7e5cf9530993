// The fleet that bench/check-generate-200.mjs times: many valid host files that differ the way a
// real fleet does (single and mirror disks, datasets, mesh, TPM and Secure Boot on and off,
// remote unlock, sync), plus some written by `keystone host new` itself.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { BenchError, mainJs, repoRoot } from './measure.mjs'

const LOGIN_SERVER = 'https://headscale.bench.example.org'

// Disk models as they appear in /dev/disk/by-id/ (bus-model_serial).
const NVME = [
  'nvme-Samsung_SSD_980_PRO_1TB_S5GXNX0T',
  'nvme-WD_BLACK_SN850X_2000GB_23123K80',
  'nvme-KINGSTON_SNV2S1000G_50026B7785',
]
const ATA = [
  'ata-WDC_WD40EFRX-68N32N0_WD-WCC7K0',
  'ata-ST4000VN008-2DR166_ZDH1',
  'ata-TOSHIBA_MG08ACA16TE_X1C0A0',
]

// Two admin keys: fresh ones from ssh-keygen when it is installed, else the example fleet's.
export function adminKeys(dir) {
  const keys = ['alice', 'bob'].map((who) => {
    const file = path.join(dir, `id_ed25519_${who}`)
    const made = spawnSync(
      'ssh-keygen',
      ['-q', '-t', 'ed25519', '-N', '', '-C', `${who}@laptop`, '-f', file],
      { stdio: 'ignore' },
    )
    return made.status === 0 ? readFileSync(`${file}.pub`, 'utf8').trim() : undefined
  })
  if (keys.every((k) => k !== undefined))
    return { alice: keys[0], bob: keys[1], source: 'ssh-keygen' }
  const examples = readFileSync(path.join(repoRoot, 'hosts/storage1.yaml'), 'utf8').match(
    /ssh-ed25519 \S+ \S+/g,
  )
  return { alice: examples[0], bob: examples[1], source: 'hosts/storage1.yaml' }
}

// A unique, never-zero hostId: multiplying by an odd constant is a bijection modulo 2^32.
const hostIdOf = (i) => (Math.imul(i + 1, 0x9e3779b1) >>> 0).toString(16).padStart(8, '0')
const serialOf = (i, disk) =>
  `${(i * 7919 + disk * 104729).toString(36).toUpperCase().padStart(6, '0')}`
const pick = (list, i) => list[i % list.length]

const KINDS = ['web', 'db', 'store', 'desk']

function describe(i) {
  const kind = pick(KINDS, i)
  const name = `${kind}${String(i).padStart(3, '0')}`
  const models = kind === 'store' ? ATA : NVME
  const diskCount = kind === 'store' ? 2 + (i % 3 === 0 ? 1 : 0) : kind === 'db' ? 2 : 1
  const model = pick(models, i >> 2)
  const disks = Array.from(
    { length: diskCount },
    (_, d) => `/dev/disk/by-id/${model}${serialOf(i, d)}`,
  )
  return {
    i,
    kind,
    name,
    disks,
    hostId: hostIdOf(i),
    system: i % 11 === 0 ? 'aarch64-linux' : 'x86_64-linux',
    role: kind === 'desk' ? 'workstation' : 'server',
    tpm: i % 3 !== 0,
    secureBoot: i % 7 !== 0,
    mesh: kind === 'desk' || i % 2 === 0,
    swap: pick(['8G', '4G', '0', '16G', '2G'], i),
  }
}

const DATASETS = {
  web: [
    ['data', '/srv/data', { recordsize: '1M' }],
    ['logs', '/var/log/app', { compression: 'zstd-3' }],
    ['cache', null, { atime: 'off' }],
  ],
  db: [
    ['postgres', '/var/lib/postgresql', { recordsize: '16K', logbias: 'throughput' }],
    ['wal', '/var/lib/postgresql/wal', { recordsize: '128K' }],
    ['dumps', '/srv/dumps', { compression: 'zstd-9' }],
  ],
  store: [
    ['backups', '/srv/backups', { compression: 'zstd-9', 'com.sun:auto-snapshot': 'true' }],
    ['media', '/srv/media', { recordsize: '1M' }],
    ['archive', '/srv/archive', { quota: '2T' }],
  ],
  desk: [
    ['home', '/home', {}],
    ['projects', '/home/projects', { 'com.sun:auto-snapshot': 'true' }],
    ['vms', '/var/lib/libvirt', { recordsize: '64K' }],
  ],
}

function datasetsYaml(h) {
  const chosen = DATASETS[h.kind].slice(0, h.i % 4)
  if (chosen.length === 0) return '  datasets: []\n'
  const lines = ['  datasets:']
  for (const [name, mountpoint, options] of chosen) {
    lines.push(`    - name: ${name}`)
    if (mountpoint !== null) lines.push(`      mountpoint: ${mountpoint}`)
    const entries = Object.entries(options)
    if (entries.length > 0)
      lines.push('      options:', ...entries.map(([k, v]) => `        ${k}: "${v}"`))
  }
  return lines.join('\n') + '\n'
}

function hostYaml(h, keys) {
  const bob = h.i % 4 === 1 ? `  - name: bob\n    sshKeys:\n      - ${keys.bob}\n` : ''
  const address = h.i % 3 === 0 ? `192.0.2.${(h.i % 250) + 1}` : `${h.name}.fleet.example.org`
  const port = h.i % 5 === 0 ? 2200 : 22
  return `# yaml-language-server: $schema=../schema/host.schema.json
# ${h.kind} host ${h.i} of the benchmark fleet.
name: ${h.name}
system: ${h.system}
role: ${h.role}
hostId: "${h.hostId}"

ssh:
  address: ${address}
  port: ${port}

admins:
  - name: alice
    sshKeys:
      - ${keys.alice}
${bob}
storage:
${h.disks.length > 1 ? '  layout: mirror\n' : ''}  disks:
${h.disks.map((d) => `    - ${d}`).join('\n')}
  swapSize: ${h.swap === '0' ? 0 : h.swap}
  pool:
    arcMax: ${pick(['2G', '4G', '8G'], h.i)}
${datasetsYaml(h)}
secureBoot:
  enable: ${h.secureBoot}

tpm:
  enable: ${h.tpm}
  pcrs: ${h.i % 2 === 0 ? '[1, 7]' : '[0, 2, 7]'}

remoteUnlock:
  enable: ${h.kind === 'store'}
  port: 2222
  networkModules: [${pick(['igb', 'e1000e', 'r8169'], h.i)}]

mesh:
  enable: ${h.mesh}
  server: ${h.i === 0}
  loginServer: ${h.mesh ? LOGIN_SERVER : 'null'}
  tags: [tag:${h.kind}]

sync:
  enable: ${h.kind === 'store'}
  store: ${h.kind === 'store' ? `s3://keystone-bench/${h.name}` : 'null'}
  endpoint: ${h.kind === 'store' ? 'https://s3.bench.example.org' : 'null'}
  paths:
    - path: /var/lib/important
`
}

// Writes `count` host files into <fleetRoot>/hosts/. Every `newEvery`-th host is made by the real
// `keystone host new` (its commented template); the rest by the template above.
export function makeFleet(fleetRoot, count, keys, newEvery = 20) {
  mkdirSync(path.join(fleetRoot, 'hosts'), { recursive: true })
  let viaHostNew = 0
  for (let i = 0; i < count; i++) {
    const h = describe(i)
    if (i % newEvery !== newEvery - 1) {
      writeFileSync(path.join(fleetRoot, 'hosts', `${h.name}.yaml`), hostYaml(h, keys))
      continue
    }
    const args = [
      'host',
      'new',
      h.name,
      '--fleet',
      fleetRoot,
      '--system',
      h.system,
      '--role',
      h.role,
    ]
    args.push(
      '--address',
      `${h.name}.fleet.example.org`,
      '--admin',
      'alice',
      '--ssh-key',
      keys.alice,
    )
    args.push(...h.disks.flatMap((d) => ['--disk', d]), '--host-id', h.hostId, '--swap', h.swap)
    if (!h.tpm) args.push('--no-tpm')
    if (!h.secureBoot) args.push('--no-secure-boot')
    const made = spawnSync(process.execPath, [mainJs, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      encoding: 'utf8',
    })
    if (made.signal === 'SIGINT' || made.signal === 'SIGTERM') {
      throw new BenchError('interrupted', { exitCode: 130 })
    }
    if (made.status !== 0 || !existsSync(path.join(fleetRoot, 'hosts', `${h.name}.yaml`))) {
      throw new BenchError(`\`keystone host new ${h.name}\` failed:\n${made.stderr}`)
    }
    viaHostNew++
  }
  return { viaHostNew }
}
