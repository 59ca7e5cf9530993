import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { loadHostFile } from '../../cli/host/load-host.js'
import { pinHostFacts } from '../../cli/host/pin-host-facts.js'
import { repoRoot } from '../helpers/temp-fleet.js'

// `keystone deploy` pins what it installed into the admin's own YAML: only the pinned lines may
// change, and the result must load as a valid host file.

const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM97szXfPQIyB7HG36CpXtNVR5xg4mXjD23yWbv6K/c2'
const INITRD_KEY =
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBhn035meObEqjC+KGfjD0UyEcpq1SSJc1sQqO3uPugF'
const AGENT_KEY = `ed25519:${Buffer.alloc(32, 7).toString('base64')}`
const NVME = '/dev/disk/by-id/nvme-WD_BLACK_SN850X_2000GB_23123K800123'
const WD = (n: number) => `/dev/disk/by-id/ata-WDC_WD40EFRX-68N32N0_WD-WCC7K0XXXXX${n}`

// A copy of an example host in a fresh fleet, as hosts/<name>.yaml.
async function hostCopy(t: { teardown(fn: () => Promise<void>): void }, name: string) {
  const fleet = await mkdtemp(path.join(tmpdir(), 'keystone-pin-'))
  t.teardown(() => rm(fleet, { recursive: true, force: true }))
  await mkdir(path.join(fleet, 'hosts'))
  const file = path.join(fleet, 'hosts', `${name}.yaml`)
  await copyFile(path.join(repoRoot, 'hosts', `${name}.yaml`), file)
  return { file, original: await readFile(file, 'utf8') }
}

async function load(file: string) {
  const result = await loadHostFile(file, `hosts/${path.basename(file)}`)
  if (!result.ok) throw new Error(JSON.stringify(result.problems))
  return result.loaded.host
}

t.test('desk1: the host key and the disk are pinned, every other line stays', async (t) => {
  const { file, original } = await hostCopy(t, 'desk1')
  const facts = {
    sshHostKey: `${HOST_KEY} root@nixos`,
    disks: [{ path: NVME, sizeBytes: 2000398934016, serial: '23123K800123' }],
  }
  await pinHostFacts(file, facts)
  const expected = original
    .replace('  address: desk1.lan\n', `  address: desk1.lan\n  hostKey: ${HOST_KEY}\n`)
    .replace(
      `    - ${NVME}\n`,
      `    - path: ${NVME}\n      sizeBytes: 2000398934016\n      serial: 23123K800123\n`,
    )
  t.equal(await readFile(file, 'utf8'), expected)
  const host = await load(file)
  t.equal(host.ssh.hostKey, HOST_KEY, 'the comment of the key is not pinned')
  t.same(host.storage.disks, [{ path: NVME, sizeBytes: 2000398934016, serial: '23123K800123' }])

  await pinHostFacts(file, facts)
  t.equal(await readFile(file, 'utf8'), expected, 'pinning the same facts again changes nothing')
})

t.test('storage1: both keys, the agent key and two disks; comments stay', async (t) => {
  const { file, original } = await hostCopy(t, 'storage1')
  await pinHostFacts(file, {
    sshHostKey: HOST_KEY,
    initrdHostKey: INITRD_KEY,
    agentKey: AGENT_KEY,
    disks: [1, 2].map((n) => ({
      path: WD(n),
      sizeBytes: 4000787030016,
      serial: `WD-WCC7K0XXXXX${n}`,
    })),
  })
  const after = await readFile(file, 'utf8')
  for (const line of original.split('\n').filter((line) => line.startsWith('#')))
    t.ok(after.includes(line + '\n'), `keeps ${line}`)
  t.match(after, `  port: 2222\n  networkModules: [igb]\n  hostKey: ${INITRD_KEY}\n`)
  t.match(after, `    - path: /var/lib/important\n  agentKey: ${AGENT_KEY}\n`)
  const host = await load(file)
  t.equal(host.remoteUnlock.hostKey, INITRD_KEY)
  t.equal(host.sync.agentKey, AGENT_KEY)
  t.same(
    host.storage.disks.map((disk) => (typeof disk === 'string' ? disk : disk.serial)),
    ['WD-WCC7K0XXXXX1', 'WD-WCC7K0XXXXX2'],
  )
})

t.test('a pinned entry is updated in place; comments around a disk stay with it', async (t) => {
  const { file, original } = await hostCopy(t, 'storage1')
  await writeFile(
    file,
    original.replace(`    - ${WD(1)}\n`, `    # left bay\n    - ${WD(1)} # bought 2023\n`),
  )
  const pin = (serial: string) =>
    pinHostFacts(file, { disks: [{ path: WD(1), sizeBytes: 4000787030016, serial }] })
  await pin('0123')
  const pinned = `    # left bay\n    - path: ${WD(1)} # bought 2023\n      sizeBytes: 4000787030016\n      serial: "0123"\n    - ${WD(2)}\n`
  t.match(await readFile(file, 'utf8'), pinned, 'a serial YAML would read as a number is quoted')
  await pin('WD-WCC7K0ZZZZZ3')
  t.match(await readFile(file, 'utf8'), pinned.replace('"0123"', 'WD-WCC7K0ZZZZZ3'))
  const host = await load(file)
  t.same(host.storage.disks, [
    { path: WD(1), sizeBytes: 4000787030016, serial: 'WD-WCC7K0ZZZZZ3' },
    WD(2),
  ])
})

t.test('a disk that reports no serial is pinned by its size only', async (t) => {
  const { file } = await hostCopy(t, 'desk1')
  await pinHostFacts(file, { disks: [{ path: NVME, sizeBytes: 2000398934016, serial: '' }] })
  t.same((await load(file)).storage.disks, [{ path: NVME, sizeBytes: 2000398934016, serial: null }])
  t.notMatch(await readFile(file, 'utf8'), 'serial:')
})

t.test('nothing is written that Keystone would refuse to load', async (t) => {
  const { file, original } = await hostCopy(t, 'desk1')
  await chmod(file, 0o600)
  await t.rejects(pinHostFacts(file, { sshHostKey: 'ssh-ed25519 not-base64' }), {
    name: 'HostFileError',
    problems: [{ file: 'hosts/desk1.yaml', path: 'ssh.hostKey' }],
  })
  t.equal(await readFile(file, 'utf8'), original, 'the file is untouched')

  await writeFile(file, original.replace('role: workstation', 'role: desktop'))
  await t.rejects(pinHostFacts(file, { sshHostKey: HOST_KEY }), {
    name: 'HostFileError',
    problems: [{ path: 'role' }],
  })

  await writeFile(file, original)
  await pinHostFacts(file, { sshHostKey: HOST_KEY })
  t.equal((await stat(file)).mode & 0o777, 0o600, 'the file keeps its mode')
})

t.test('facts about a disk the host does not list are refused', async (t) => {
  const { file, original } = await hostCopy(t, 'web1')
  await t.rejects(
    pinHostFacts(file, {
      sshHostKey: HOST_KEY,
      disks: [{ path: '/dev/disk/by-id/not-this-hosts-disk', sizeBytes: 1, serial: 'x' }],
    }),
    {
      name: 'HostFileError',
      problems: [
        {
          file: 'hosts/web1.yaml',
          path: 'storage.disks',
          message:
            '`/dev/disk/by-id/not-this-hosts-disk` is not in storage.disks, so its facts cannot be pinned',
        },
      ],
    },
  )
  t.equal(await readFile(file, 'utf8'), original, 'nothing is written, not even the host key')
})
