import { readFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { pinHostFacts } from '../../cli/host/pin-host-facts.js'
import { loadHostFile } from '../../cli/host/load-host.js'
import { HostFileError } from '../../cli/errors.js'
import { tempFleet } from '../helpers/temp-fleet.js'

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBhn035meObEqjC+KGfjD0UyEcpq1SSJc1sQqO3uPugF'

t.test('deploy’s facts are written into the host file, comments and order kept', async (t) => {
  const fleet = await tempFleet(t)
  const file = path.join(fleet, 'hosts/storage1.yaml')
  const before = await readFile(file, 'utf8')
  await pinHostFacts(file, {
    sshHostKey: `${KEY} root@storage1`,
    initrdHostKey: KEY,
    disks: [{ path: '/dev/disk/by-id/ata-WDC_WD40EFRX-68N32N0_WD-WCC7K0XXXXX1', sizeBytes: 4000787030016, serial: 'WD-WCC7K0XXXXX1' }],
  })
  const after = await readFile(file, 'utf8')
  t.match(after, before.split('\n').slice(0, 3).join('\n'), 'the header comments stay')
  const loaded = await loadHostFile(file, 'hosts/storage1.yaml')
  t.ok(loaded.ok)
  if (!loaded.ok) return
  t.equal(loaded.loaded.host.ssh.hostKey, KEY, 'the key without its comment')
  t.equal(loaded.loaded.host.remoteUnlock.hostKey, KEY)
  t.same(loaded.loaded.host.storage.pinnedDisks, [{ path: '/dev/disk/by-id/ata-WDC_WD40EFRX-68N32N0_WD-WCC7K0XXXXX1', sizeBytes: 4000787030016, serial: 'WD-WCC7K0XXXXX1' }])
})

t.test('a fact the host file would refuse is not written', async (t) => {
  const fleet = await tempFleet(t)
  const file = path.join(fleet, 'hosts/web1.yaml')
  const before = await readFile(file, 'utf8')
  await t.rejects(pinHostFacts(file, { disks: [{ path: '/dev/disk/by-id/not-this-hosts-disk', sizeBytes: 1, serial: 'x' }] }), HostFileError)
  t.equal(await readFile(file, 'utf8'), before)
})
