import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import t from 'tap'
import { runHostNew } from '../../cli/host/run-host-new.js'
import { loadHostSource } from '../../cli/host/load-host.js'
import { keystone, tempFleet } from '../helpers/temp-fleet.js'

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM97szXfPQIyB7HG36CpXtNVR5xg4mXjD23yWbv6K/c2 alice@laptop'
const DISK = '/dev/disk/by-id/nvme-Samsung_SSD_990_PRO_2TB_S7KHNJ0W000001X'

t.test('host new writes a valid, commented host file that generates and checks', async (t) => {
  const fleet = await tempFleet(t)
  const created = await keystone(['host', 'new', 'web2', '--address', '192.0.2.20', '--admin', 'alice', '--ssh-key', KEY, '--disk', DISK, '--host-id', '0a1b2c3d', '--fleet', fleet])
  t.equal(created.code, 0, created.stderr)
  t.equal(created.stdout, 'wrote hosts/web2.yaml\nnext: review it, then run `keystone generate web2`\n')
  const text = await readFile(path.join(fleet, 'hosts/web2.yaml'), 'utf8')
  t.match(text, /^# yaml-language-server: \$schema=\.\.\/schema\/host\.schema\.json\n/)
  t.match(text, 'hostId: "0a1b2c3d"')
  t.match(text, /# Everything on these disks is erased at deploy/)
  const loaded = loadHostSource(text, 'hosts/web2.yaml')
  t.ok(loaded.ok)
  t.equal((await keystone(['generate', '--all', '--fleet', fleet])).code, 0)
  t.equal((await keystone(['check', '--fleet', fleet])).code, 0)
})

t.test('host new with two disks writes a mirror', async (t) => {
  const fleet = await tempFleet(t)
  const second = DISK.replace('01X', '02X')
  const created = await keystone(['host', 'new', 'nas', '--address', 'nas.lan', '--admin', 'alice', '--ssh-key', KEY, '--disk', DISK, '--disk', second, '--fleet', fleet])
  t.equal(created.code, 0, created.stderr)
  const text = await readFile(path.join(fleet, 'hosts/nas.yaml'), 'utf8')
  t.match(text, 'layout: mirror')
})

t.test('host new without a terminal names every missing flag and writes nothing', async (t) => {
  const fleet = await tempFleet(t)
  const { code, stderr } = await keystone(['host', 'new', 'web2', '--fleet', fleet])
  t.equal(code, 2)
  t.match(stderr, 'keystone: missing --address, --admin, --ssh-key or --ssh-key-file, --disk')
  t.notOk(existsSync(path.join(fleet, 'hosts/web2.yaml')))
})

t.test('host new refuses a bad value and leaves no file behind', async (t) => {
  const fleet = await tempFleet(t)
  const { code, stderr } = await keystone(['host', 'new', 'web2', '--address', 'x', '--admin', 'alice', '--ssh-key', KEY, '--disk', '/dev/sdb', '--fleet', fleet])
  t.equal(code, 1)
  t.match(stderr, /hosts\/web2\.yaml \(not written\):\d+:\d+: storage\.disks\[0\]: expected a \/dev\/disk\/by-id\/ path, got `\/dev\/sdb`/)
  t.notOk(existsSync(path.join(fleet, 'hosts/web2.yaml')))
})

t.test('host new never overwrites an existing host file', async (t) => {
  const fleet = await tempFleet(t)
  const before = await readFile(path.join(fleet, 'hosts/web1.yaml'), 'utf8')
  const { code, stderr } = await keystone(['host', 'new', 'web1', '--address', 'x', '--admin', 'a', '--ssh-key', KEY, '--disk', DISK, '--fleet', fleet])
  t.equal(code, 1)
  t.match(stderr, 'keystone: hosts/web1.yaml already exists')
  t.equal(await readFile(path.join(fleet, 'hosts/web1.yaml'), 'utf8'), before)
})

t.test('host new asks for what is missing on a terminal', async (t) => {
  const fleet = await tempFleet(t)
  const input = new PassThrough()
  const prompts = new PassThrough()
  let asked = ''
  prompts.on('data', (chunk: Buffer) => {
    asked += chunk.toString()
    // Answer each question as it appears, as a person would.
    if (asked.endsWith('(its installer): ')) input.write('192.0.2.30\n')
    else if (/Your login name on the host( \[[^\]]*\])?: $/.test(asked)) input.write('carol\n')
    else if (/Your SSH public key file( \[[^\]]*\])?: $/.test(asked)) input.write(path.join(fleet, 'key.pub') + '\n')
    else if (asked.endsWith('(ls -l /dev/disk/by-id/): ')) input.write(DISK + '\n')
  })
  const { writeFile } = await import('node:fs/promises')
  await writeFile(path.join(fleet, 'key.pub'), KEY + '\n')
  const lines: string[] = []
  await runHostNew({ name: 'web3', fleet, interactive: true, input, prompts, output: { out: (l) => lines.push(l), err: (l) => lines.push(l) } })
  const text = await readFile(path.join(fleet, 'hosts/web3.yaml'), 'utf8')
  t.match(text, 'address: 192.0.2.30')
  t.match(text, '- name: carol')
  t.match(text, DISK)
  t.same(lines, ['wrote hosts/web3.yaml', 'next: review it, then run `keystone generate web3`'])
})

t.test('host list shows the fleet as a table and as JSON', async (t) => {
  const table = await keystone(['host', 'list'])
  t.equal(table.code, 0)
  const lines = table.stdout.trimEnd().split('\n')
  t.match(lines[0], /^HOST\s+ROLE\s+SYSTEM\s+SSH\s+DISKS\s+SECURE BOOT\s+TPM\s+MESH\s+SYNC$/)
  t.match(lines[1], /^desk1\s+workstation\s+x86_64-linux\s+root@desk1\.lan\s+single \(1\)\s+on\s+pcr 1\+7\s+on\s+off$/)
  t.equal(lines.length, 4)
  const json = await keystone(['host', 'list', '--json'])
  const hosts = JSON.parse(json.stdout) as { name: string; storage: { layout: string } }[]
  t.same(hosts.map((h) => [h.name, h.storage.layout]), [['desk1', 'single'], ['storage1', 'mirror'], ['web1', 'single']])
})
