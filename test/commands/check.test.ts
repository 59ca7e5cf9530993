import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { keystone, tempFleet } from '../helpers/temp-fleet.js'

t.test('a fleet with up-to-date generated files passes', async (t) => {
  const fleet = await tempFleet(t)
  const { code, stdout } = await keystone(['check', '--fleet', fleet])
  t.equal(code, 0)
  t.equal(stdout, '3 hosts valid; generated files up to date\n')
})

t.test('check is found from a subdirectory of the fleet', async (t) => {
  const fleet = await tempFleet(t)
  const { code } = await keystone(['check'], { cwd: path.join(fleet, 'hosts', 'web1') })
  t.equal(code, 0)
})

t.test('a changed host file makes its generated files stale', async (t) => {
  const fleet = await tempFleet(t)
  const file = path.join(fleet, 'hosts/web1.yaml')
  await writeFile(file, (await readFile(file, 'utf8')).replace('swapSize: 8G', 'swapSize: 16G'))
  const { code, stderr } = await keystone(['check', '--fleet', fleet])
  t.equal(code, 1)
  t.match(stderr, 'hosts/web1/disko.nix is stale: its source changed since it was generated — hint: run `keystone generate web1`')
  t.match(stderr, 'keystone: 1 generated file is out of date')
  // generate repairs exactly that file, then check passes.
  const generated = await keystone(['generate', 'web1', '--fleet', fleet])
  t.equal(generated.stdout, 'wrote hosts/web1/disko.nix\n1 host: 1 written, 3 unchanged\n')
  t.equal((await keystone(['check', '--fleet', fleet])).code, 0)
})

t.test('a hand-edited generated file is named as such', async (t) => {
  const fleet = await tempFleet(t)
  await appendFile(path.join(fleet, 'hosts/desk1/keystone.nix'), '# my tweak\n')
  const { code, stderr } = await keystone(['check', '--fleet', fleet])
  t.equal(code, 1)
  t.match(stderr, 'hosts/desk1/keystone.nix was edited by hand — hint: put the change in the host file instead, then run `keystone generate desk1` (it overwrites the edit)')
})

t.test('a missing generated file and an orphaned host directory are reported', async (t) => {
  const fleet = await tempFleet(t)
  await rm(path.join(fleet, 'hosts/storage1/disko.nix'))
  await mkdir(path.join(fleet, 'hosts/old'))
  await writeFile(path.join(fleet, 'hosts/old/default.nix'), await readFile(path.join(fleet, 'hosts/web1/default.nix')))
  const { code, stderr } = await keystone(['check', '--fleet', fleet])
  t.equal(code, 1)
  t.match(stderr, 'hosts/storage1/disko.nix is missing — hint: run `keystone generate storage1`')
  t.match(stderr, 'hosts/old/ was generated for a host that has no host file')
})

t.test('a file not written by keystone is not overwritten silently by check', async (t) => {
  const fleet = await tempFleet(t)
  await writeFile(path.join(fleet, 'hosts/web1/keystone.nix'), '{ }\n')
  const { code, stderr } = await keystone(['check', '--fleet', fleet])
  t.equal(code, 1)
  t.match(stderr, 'hosts/web1/keystone.nix was not written by keystone')
})

t.test('host file errors are reported with file, line and column, all at once', async (t) => {
  const fleet = await tempFleet(t)
  const file = path.join(fleet, 'hosts/web1.yaml')
  const text = (await readFile(file, 'utf8'))
    .replace('/dev/disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S5GXNX0T123456A', '/dev/sda')
    .replace('role: server', 'role: sever')
  await writeFile(file, text)
  const { code, stdout, stderr } = await keystone(['check', '--fleet', fleet])
  t.equal(code, 1)
  t.equal(stdout, '')
  t.equal(
    stderr,
    [
      'hosts/web1.yaml:5:7: role: expected one of server, workstation, got `sever` — hint: did you mean `server`?',
      'hosts/web1.yaml:18:7: storage.disks[0]: expected a /dev/disk/by-id/ path, got `/dev/sda` — hint: device names such as /dev/sda change between boots and can wipe the wrong disk; run `ls -l /dev/disk/by-id/` on the machine and use that path',
      'keystone: 2 problems in 1 host file',
      '  hint: fix the lines above, then run `keystone check` again',
      '',
    ].join('\n'),
  )
})

t.test('--json reports the state as data', async (t) => {
  const fleet = await tempFleet(t)
  const ok = await keystone(['check', '--json', '--fleet', fleet])
  t.same(JSON.parse(ok.stdout), { ok: true, hosts: ['desk1', 'storage1', 'web1'], hostProblems: [], generated: [] })
  await rm(path.join(fleet, 'hosts/web1/default.nix'))
  const stale = await keystone(['check', '--json', '--fleet', fleet])
  t.equal(stale.code, 1)
  t.match(JSON.parse(stale.stdout), { ok: false, generated: [{ path: 'hosts/web1/default.nix', kind: 'missing' }] })
})
