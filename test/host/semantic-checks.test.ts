import { readFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import type { Host } from '../../cli/host/host-schema.js'
import { loadHostSource } from '../../cli/host/load-host.js'
import { checkHost } from '../../cli/host/semantic-checks.js'

const file = path.resolve(import.meta.dirname, '../../hosts/web1.yaml')
const loaded = loadHostSource(readFileSync(file, 'utf8'), 'hosts/web1.yaml')
if (!loaded.ok) throw new Error('hosts/web1.yaml does not load')
const web1 = (): Host => structuredClone(loaded.loaded.host)

function withAddress(address: string) {
  const host = web1()
  host.ssh.address = address
  return checkHost(host, 'web1').map((p) => p.hint)
}

t.test('ssh.address takes a DNS name or an IP address, IPv6 included', async (t) => {
  for (const address of ['web1.example.org', 'web1.example.org.', 'web1', 'build_box.lan', '192.0.2.10', '2001:db8::1', '2001:db8:0:0:0:0:0:1', '::1', 'fe80::1%eth0']) {
    t.same(withAddress(address), [], address)
  }
})

t.test('ssh.address refuses what is not a host, saying where it belongs', async (t) => {
  t.same(withAddress('root@192.0.2.10'), ['put the login name in ssh.user, not in the address'])
  t.same(withAddress('192.0.2.10:2222'), ['write only the host; the port goes in ssh.port'])
  t.same(withAddress('[2001:db8::1]:2222'), ['write only the host; the port goes in ssh.port'])
  // Each of these would reach ssh(1) as an argument: an option, a URL, two words.
  for (const address of ['-oProxyCommand=sh', 'ssh://web1', 'web1 web2', '.web1', 'we$b1', '[2001:db8::1]']) {
    t.same(withAddress(address), ['write a DNS name or an IP address, such as web1.example.org or 192.0.2.10'], address)
  }
})

t.test('dataset mountpoints are compared as normalised paths', async (t) => {
  const host = web1()
  host.storage.datasets = [
    { name: 'a', mountpoint: '/srv//a/', options: {} },
    { name: 'b', mountpoint: '/srv/x/../a', options: {} },
    { name: 'c', mountpoint: '/var/./', options: {} },
  ]
  t.same(
    checkHost(host, 'web1').map((p) => [p.path.join('.'), p.message]),
    [
      ['storage.datasets.0.mountpoint', '`/srv//a/` is not in its plain form (`.` or `..` segments, `//` or a trailing `/`)'],
      ['storage.datasets.1.mountpoint', '`/srv/x/../a` is already the mountpoint of storage.datasets[0]'],
      ['storage.datasets.2.mountpoint', '`/var/./` (that is, /var) is mounted by Keystone'],
    ],
  )
})

t.test('dataset names are relative to <pool>/crypt', async (t) => {
  const host = web1()
  host.storage.datasets = [
    { name: 'rpool/crypt/data', mountpoint: null, options: {} },
    { name: 'crypt/media', mountpoint: null, options: {} },
    { name: 'rpool/data', mountpoint: null, options: {} },
  ]
  t.same(
    checkHost(host, 'web1').map((p) => p.hint),
    ['write `data`; Keystone creates it as rpool/crypt/data', 'write `media`; Keystone creates it as rpool/crypt/media'],
    '`rpool/data` is a legitimate dataset below rpool/crypt',
  )
})

t.test('the example host has no problem', async (t) => {
  t.same(checkHost(web1(), 'web1'), [])
})
