import type { Host } from './host-schema.js'
import { problemAt, type PathProblem } from './path-problem.js'
import { parseSize } from './sizes.js'
import { checkSshPublicKey } from './ssh-keys.js'
import { checkZfsProperty } from './zfs-properties.js'

// Rules a JSON Schema cannot express, run on one schema-valid host. Fleet-wide rules (unique
// names and hostIds, one mesh server) are in `fleet-checks.ts`.

// Datasets Keystone itself creates under `<pool>/crypt`, and mountpoints the boot chain owns.
const RESERVED_DATASETS = ['system', 'system/nix', 'system/var']
const RESERVED_MOUNTPOINTS = ['/', '/nix', '/var', '/boot', '/etc/credstore']
const MIN_ESP_BYTES = 256 * 2 ** 20
const MIN_CREDSTORE_BYTES = 16 * 2 ** 20

export function checkHost(host: Host, fileStem: string): PathProblem[] {
  return [
    ...checkIdentity(host, fileStem),
    ...checkAccess(host),
    ...checkDisks(host),
    ...checkSizes(host),
    ...checkPool(host),
    ...checkDatasets(host),
    ...checkBoot(host),
    ...checkMesh(host),
    ...checkSync(host),
  ]
}

function checkIdentity(host: Host, fileStem: string): PathProblem[] {
  const problems: PathProblem[] = []
  if (host.name !== fileStem) {
    problems.push(
      problemAt(['name'], `expected \`${fileStem}\` (the file name), got \`${host.name}\``, `rename the file to hosts/${host.name}.yaml or set name: ${fileStem}`),
    )
  }
  if (host.hostId === '00000000') {
    problems.push(
      problemAt(['hostId'], 'expected a random hostId, got the placeholder `00000000`', 'generate one with `head -c4 /dev/urandom | od -A none -t x4 | tr -d " "`'),
    )
  }
  return problems
}

function checkKey(path: PathProblem['path'], line: string): PathProblem[] {
  const result = checkSshPublicKey(line)
  return result.ok
    ? []
    : [problemAt(path, `expected an OpenSSH public key, got \`${line.slice(0, 40)}${line.length > 40 ? '...' : ''}\`: ${result.reason}`, 'paste one line of `~/.ssh/id_ed25519.pub`')]
}

function checkAccess(host: Host): PathProblem[] {
  const problems: PathProblem[] = []
  const { address } = host.ssh
  if (address.includes('@')) {
    problems.push(problemAt(['ssh', 'address'], `expected a host name or IP address, got \`${address}\``, 'put the login name in ssh.user, not in the address'))
  } else if (/\s|\/|:\d+$/.test(address) && !address.includes('::')) {
    problems.push(problemAt(['ssh', 'address'], `expected a host name or IP address, got \`${address}\``, 'write only the host; the port goes in ssh.port'))
  }
  if (host.ssh.hostKey !== null) problems.push(...checkKey(['ssh', 'hostKey'], host.ssh.hostKey))
  const seen = new Map<string, number>()
  host.admins.forEach((admin, i) => {
    if (admin.name === 'root') {
      problems.push(problemAt(['admins', i, 'name'], 'expected a personal login name, got `root`', 'admins log in as themselves and use sudo; root login is disabled'))
    }
    const first = seen.get(admin.name)
    if (first !== undefined) {
      problems.push(problemAt(['admins', i, 'name'], `\`${admin.name}\` is already listed as admins[${first}]`, 'merge the two entries into one with both keys'))
    } else seen.set(admin.name, i)
    admin.sshKeys.forEach((key, j) => problems.push(...checkKey(['admins', i, 'sshKeys', j], key)))
  })
  return problems
}

function checkDisks(host: Host): PathProblem[] {
  const problems: PathProblem[] = []
  const { disks, layout } = host.storage
  const seen = new Map<string, number>()
  disks.forEach((disk, i) => {
    if (/-part[0-9]+$/.test(disk)) {
      problems.push(problemAt(['storage', 'disks', i], `expected a whole disk, got the partition \`${disk}\``, `Keystone partitions the disk itself; use ${disk.replace(/-part[0-9]+$/, '')}`))
    }
    const first = seen.get(disk)
    if (first !== undefined) {
      problems.push(problemAt(['storage', 'disks', i], `\`${disk}\` is already listed as storage.disks[${first}]`, 'list each disk once'))
    } else seen.set(disk, i)
  })
  if (layout === 'mirror' && disks.length < 2) {
    problems.push(problemAt(['storage', 'disks'], `expected at least 2 disks for a mirror, got ${disks.length}`, 'add a second disk, or set storage.layout: single'))
  }
  if (layout === 'single' && disks.length > 1) {
    problems.push(problemAt(['storage', 'layout'], `expected \`mirror\` for ${disks.length} disks, got \`single\``, 'set storage.layout: mirror, or list one disk'))
  }
  return problems
}

function checkSizes(host: Host): PathProblem[] {
  const problems: PathProblem[] = []
  const { espSize, credstoreSize } = host.storage
  if ((parseSize(espSize) ?? 0) < MIN_ESP_BYTES) {
    problems.push(problemAt(['storage', 'espSize'], `expected at least 256M, got \`${espSize}\``, 'Lanzaboote keeps several signed kernels on the ESP; 1G is a safe size'))
  }
  if ((parseSize(credstoreSize) ?? 0) < MIN_CREDSTORE_BYTES) {
    problems.push(problemAt(['storage', 'credstoreSize'], `expected at least 16M, got \`${credstoreSize}\``, 'a LUKS2 header alone takes 16M; 100M is the usual size'))
  }
  return problems
}

function checkPool(host: Host): PathProblem[] {
  const problem = checkZfsProperty('compression', host.storage.pool.compression)
  return problem === undefined ? [] : [problemAt(['storage', 'pool', 'compression'], problem.message, problem.hint)]
}

function checkDatasets(host: Host): PathProblem[] {
  const problems: PathProblem[] = []
  const names = new Map<string, number>()
  const mountpoints = new Map<string, number>()
  host.storage.datasets.forEach((dataset, i) => {
    const at = (...rest: (string | number)[]) => ['storage', 'datasets', i, ...rest]
    if (RESERVED_DATASETS.includes(dataset.name)) {
      problems.push(problemAt(at('name'), `\`${dataset.name}\` is created by Keystone`, 'choose another name, e.g. `data`'))
    }
    const firstName = names.get(dataset.name)
    if (firstName !== undefined) {
      problems.push(problemAt(at('name'), `\`${dataset.name}\` is already storage.datasets[${firstName}]`, 'give each dataset its own name'))
    } else names.set(dataset.name, i)
    const { mountpoint } = dataset
    if (mountpoint !== null) {
      const normalised = mountpoint.replace(/\/+$/, '') || '/'
      if (RESERVED_MOUNTPOINTS.includes(normalised)) {
        problems.push(problemAt(at('mountpoint'), `\`${mountpoint}\` is mounted by Keystone`, 'choose another mountpoint, e.g. /srv/data'))
      }
      const firstMount = mountpoints.get(normalised)
      if (firstMount !== undefined) {
        problems.push(problemAt(at('mountpoint'), `\`${mountpoint}\` is already the mountpoint of storage.datasets[${firstMount}]`, 'mount each dataset in its own place'))
      } else mountpoints.set(normalised, i)
    }
    for (const [name, value] of Object.entries(dataset.options)) {
      const problem = checkZfsProperty(name, value)
      if (problem !== undefined) problems.push(problemAt(at('options', name), problem.message, problem.hint))
    }
  })
  return problems
}

function checkBoot(host: Host): PathProblem[] {
  const problems: PathProblem[] = []
  const pcrs = host.tpm.pcrs
  pcrs.forEach((pcr, i) => {
    if (pcrs.indexOf(pcr) !== i) problems.push(problemAt(['tpm', 'pcrs', i], `PCR ${pcr} is listed twice`, 'list each PCR once'))
  })
  const unlock = host.remoteUnlock
  if (unlock.enable && unlock.port === host.ssh.port) {
    problems.push(problemAt(['remoteUnlock', 'port'], `expected a port other than ssh.port (${host.ssh.port}), got ${unlock.port}`, 'the initrd has its own host key; a separate port keeps known_hosts apart (2222 is usual)'))
  }
  if (unlock.hostKey !== null) problems.push(...checkKey(['remoteUnlock', 'hostKey'], unlock.hostKey))
  return problems
}

function checkMesh(host: Host): PathProblem[] {
  const { mesh } = host
  const problems: PathProblem[] = []
  if (mesh.enable && mesh.loginServer === null) {
    problems.push(problemAt(['mesh'], 'expected `loginServer` when the mesh is enabled, got nothing', 'add `loginServer: https://<your headscale>`; Keystone has no default server'))
  }
  if (mesh.server && !mesh.enable) {
    problems.push(problemAt(['mesh', 'server'], 'the Headscale server needs the mesh enabled', 'set mesh.enable: true and mesh.loginServer to this server\'s URL'))
  }
  return problems
}

function checkSync(host: Host): PathProblem[] {
  const { sync } = host
  const problems: PathProblem[] = []
  if (sync.enable && sync.store === null) {
    problems.push(problemAt(['sync'], 'expected `store` when sync is enabled, got nothing', 'add `store: s3://bucket/prefix` or `store: file:///path`'))
  }
  if (sync.enable && sync.paths.length === 0) {
    problems.push(problemAt(['sync'], 'expected at least one entry in `paths` when sync is enabled, got none', 'add `paths: [{ path: /srv/data }]`'))
  }
  if (sync.endpoint !== null && sync.store !== null && !sync.store.startsWith('s3://')) {
    problems.push(problemAt(['sync', 'endpoint'], 'an endpoint only applies to an s3:// store', 'remove sync.endpoint, or use an s3:// store'))
  }
  const paths = sync.paths.map((p) => p.path.replace(/\/+$/, ''))
  paths.forEach((path, i) => {
    const j = paths.findIndex((other, k) => k !== i && (other === path ? k < i : path.startsWith(other + '/')))
    if (j !== -1) {
      problems.push(problemAt(['sync', 'paths', i, 'path'], `\`${sync.paths[i]!.path}\` is already covered by sync.paths[${j}]`, 'list a directory once, and not inside another synced one'))
    }
  })
  return problems
}
