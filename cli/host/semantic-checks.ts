import { posix } from 'node:path'
import { diskPath } from './disks.js'
import { durationSeconds } from './durations.js'
import { HOST_NAME_PATTERN, type Host } from './host-schema.js'
import { oneLine, problemAt, type PathProblem } from './path-problem.js'
import { unsafePath } from './safe-path.js'
import { formatSizeLiteral, parseSize } from './sizes.js'
import { checkSshPublicKey } from './ssh-keys.js'
import { checkZfsProperty, type PropertyProblem } from './zfs-properties.js'

// Rules a JSON Schema cannot express, run on one schema-valid host. Fleet-wide rules (unique
// names and hostIds, one mesh server) are in `fleet-checks.ts`.

// Datasets Keystone itself creates under `<pool>/crypt`, and mountpoints the boot chain owns.
const RESERVED_DATASETS = ['system', 'system/nix', 'system/var']
const RESERVED_MOUNTPOINTS = ['/', '/nix', '/var', '/boot', '/etc/credstore']
// Nothing may be mounted inside the store, an ESP or the credstore; and /boot1, /boot2… are the
// ESPs of mirror disks (render-disko.ts espMountPoint). Returns the mountpoint it collides with.
function reservedMountpoint(normalised: string): string | undefined {
  if (RESERVED_MOUNTPOINTS.includes(normalised) || /^\/boot[0-9]+$/.test(normalised)) return normalised
  const owner = /^(\/nix|\/etc\/credstore|\/boot[0-9]*)\//.exec(normalised)
  return owner?.[1]
}
// The address reaches ssh(1) as an argument: nothing but a name or an address may be there (a
// leading `-` would be read as an option).
const HOST_NAME = /^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?$/
const IPV6 = /^[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f.]*(%[A-Za-z0-9_.-]+)?$/
const MIN_ESP_BYTES = 256 * 2 ** 20
const MIN_CREDSTORE_BYTES = 16 * 2 ** 20
// Beyond any disk made today (a petabyte): a bigger size is a typo, and sums of such sizes stop
// being exact numbers.
const MAX_DISK_BYTES = 2 ** 50
// The least a pool that takes "the rest of the disk" should get.
const MIN_POOL_BYTES = 2 ** 30

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
    // Only names that would pass are offered: a file name that is no host name is not one.
    const hint = new RegExp(HOST_NAME_PATTERN).test(fileStem)
      ? `rename the file to hosts/${host.name}.yaml or set name: ${fileStem}`
      : `rename the file to hosts/${host.name}.yaml (\`${fileStem}\` is not a host name)`
    problems.push(problemAt(['name'], `expected \`${fileStem}\` (the file name), got \`${host.name}\``, hint))
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
  if (result.ok) return []
  if (result.privateKey === true) {
    return [problemAt(path, 'expected an OpenSSH public key, got a private key', 'paste the one line of `~/.ssh/id_ed25519.pub` instead; if this file was ever committed, treat the key as leaked and replace it')]
  }
  return [problemAt(path, `expected an OpenSSH public key, got \`${line.slice(0, 40)}${line.length > 40 ? '...' : ''}\`: ${result.reason}`, 'paste one line of `~/.ssh/id_ed25519.pub`')]
}

function checkAccess(host: Host): PathProblem[] {
  const problems: PathProblem[] = []
  const { address } = host.ssh
  // host:port has one colon, an IPv6 address several; `[v6]:port` is the bracketed form.
  if (address.length > 253)
    return [problemAt(['ssh', 'address'], `expected a host name or IP address, got ${address.length} characters`, 'a DNS name has at most 253 characters: write the host name or IP address alone')]
  const withPort = /^[^:]+:\d+$/.test(address) || /^\[.*\]:\d+$/.test(address)
  const wrongAddress = (hint: string) => problemAt(['ssh', 'address'], `expected a host name or IP address, got \`${address}\``, hint)
  if (address.includes('@')) problems.push(wrongAddress('put the login name in ssh.user, not in the address'))
  else if (withPort) problems.push(wrongAddress('write only the host; the port goes in ssh.port'))
  else if (!HOST_NAME.test(address) && !IPV6.test(address)) problems.push(wrongAddress('write a DNS name or an IP address, such as web1.example.org or 192.0.2.10'))
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
  disks.forEach((entry, i) => {
    const disk = diskPath(entry)
    // A pinned disk is a mapping: point at its `path:` line.
    const at: PathProblem['path'] = typeof entry === 'string' ? ['storage', 'disks', i] : ['storage', 'disks', i, 'path']
    if (/-part[0-9]+$/.test(disk)) {
      problems.push(problemAt(at, `expected a whole disk, got the partition \`${disk}\``, `Keystone partitions the disk itself; use ${disk.replace(/-part[0-9]+$/, '')}`))
    }
    const first = seen.get(disk)
    if (first !== undefined) {
      problems.push(problemAt(at, `\`${disk}\` is already listed as storage.disks[${first}]`, 'list each disk once'))
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
  const { espSize, credstoreSize, swapSize, poolSize, disks } = host.storage
  const sizes = [
    ['espSize', espSize],
    ['credstoreSize', credstoreSize],
    ['swapSize', swapSize],
    ['poolSize', poolSize],
  ] as const
  for (const [key, value] of sizes) {
    if (value === 0 || value === '0' || value === '100%') continue
    const bytes = parseSize(value)
    if (bytes === undefined || bytes > MAX_DISK_BYTES)
      problems.push(problemAt(['storage', key], `\`${value}\` is larger than any disk (at most ${formatSizeLiteral(MAX_DISK_BYTES)})`, 'write the size in G or T as the disk has it, e.g. 8G'))
  }
  if (problems.length > 0) return problems
  // With the sizes deploy pinned, what the layout puts on each disk must fit on it.
  disks.forEach((entry, i) => {
    const size = typeof entry === 'string' ? null : entry.sizeBytes
    if (size === null) return
    const esp = i === 0 || host.storage.layout === 'mirror' ? parseSize(espSize)! : 0
    const swap = i === disks.length - 1 && swapSize !== 0 && swapSize !== '0' ? parseSize(swapSize)! : 0
    const pool = poolSize === '100%' ? MIN_POOL_BYTES : parseSize(poolSize)!
    const needed = esp + swap + pool
    if (needed > size)
      problems.push(problemAt(['storage', 'disks', i, 'sizeBytes'], `the disk holds ${formatSizeLiteral(size)} (${size} bytes), less than the ${formatSizeLiteral(needed)} the layout puts on it (ESP ${formatSizeLiteral(esp) || 0}, swap ${formatSizeLiteral(swap) || 0}, pool ${poolSize === '100%' ? `at least ${formatSizeLiteral(MIN_POOL_BYTES)}` : poolSize})`, 'make swapSize (or poolSize) smaller, or name a bigger disk'))
  })
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
  return problem === undefined ? [] : [propertyProblem(['storage', 'pool', 'compression'], problem)]
}

function propertyProblem(path: PathProblem['path'], problem: PropertyProblem): PathProblem {
  return { ...problemAt(path, problem.message, problem.hint), atKey: problem.aboutName === true }
}

function checkDatasets(host: Host): PathProblem[] {
  const problems: PathProblem[] = []
  const names = new Map<string, number>()
  const mountpoints = new Map<string, number>()
  const pool = host.storage.pool.name
  host.storage.datasets.forEach((dataset, i) => {
    const at = (...rest: (string | number)[]) => ['storage', 'datasets', i, ...rest]
    // Names are relative to `<pool>/crypt`; a full name would nest the pool inside itself.
    const prefix = [`${pool}/crypt/`, 'crypt/'].find((p) => dataset.name.startsWith(p))
    if (prefix !== undefined) {
      const relative = dataset.name.slice(prefix.length)
      problems.push(problemAt(at('name'), `expected a name below ${pool}/crypt, got \`${dataset.name}\``, `write \`${relative}\`; Keystone creates it as ${pool}/crypt/${relative}`))
    } else if (RESERVED_DATASETS.includes(dataset.name)) {
      problems.push(problemAt(at('name'), `\`${dataset.name}\` is created by Keystone`, 'choose another name, e.g. `data`'))
    }
    const firstName = names.get(dataset.name)
    if (firstName !== undefined) {
      problems.push(problemAt(at('name'), `\`${dataset.name}\` is already storage.datasets[${firstName}]`, 'give each dataset its own name'))
    } else names.set(dataset.name, i)
    const { mountpoint } = dataset
    const before = problems.length
    if (mountpoint !== null) {
      // `/srv/../nix` is /nix too.
      const normalised = posix.normalize(mountpoint).replace(/\/+$/, '') || '/'
      const owner = reservedMountpoint(normalised)
      if (owner !== undefined) {
        const shown = normalised === mountpoint.replace(/\/+$/, '') ? `\`${mountpoint}\`` : `\`${mountpoint}\` (that is, ${normalised})`
        const what = owner === normalised ? 'is mounted by Keystone' : `is inside \`${owner}\`, which Keystone mounts`
        problems.push(problemAt(at('mountpoint'), `${shown} ${what}`, 'choose another mountpoint, e.g. /srv/data'))
      }
      const firstMount = mountpoints.get(normalised)
      if (firstMount !== undefined) {
        problems.push(problemAt(at('mountpoint'), `\`${mountpoint}\` is already the mountpoint of storage.datasets[${firstMount}]`, 'mount each dataset in its own place'))
      } else mountpoints.set(normalised, i)
      // What a mount unit or fstab line could misread, when nothing above said more.
      const unsafe = unsafePath(mountpoint)
      if (unsafe !== undefined && problems.length === before)
        problems.push(problemAt(at('mountpoint'), `\`${shownPath(mountpoint)}\` ${unsafe.reason}`, unsafe.hint))
    }
    for (const [name, value] of Object.entries(dataset.options)) {
      const problem = checkZfsProperty(name, value)
      if (problem !== undefined) problems.push(propertyProblem(at('options', name), problem))
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

// A path as an error quotes it: one line, not longer than a line of the file should be.
function shownPath(path: string): string {
  const line = oneLine(path)
  return line.length > 80 ? `${line.slice(0, 77)}...` : line
}

const MAX_INTERVAL_SECONDS = 365 * 86400

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
  sync.paths.forEach((entry, i) => {
    const unsafe = unsafePath(entry.path)
    if (unsafe !== undefined)
      problems.push(problemAt(['sync', 'paths', i, 'path'], `\`${shownPath(entry.path)}\` ${unsafe.reason}`, unsafe.hint))
    else if (entry.path === '/' && entry.mode === 'two-way')
      problems.push(problemAt(['sync', 'paths', i, 'path'], 'a two-way path of / would let every other host write all of this one', 'sync the directories that are shared, e.g. /srv/shared'))
  })
  if (sync.store?.startsWith('file://') === true) {
    const folder = sync.store.slice('file://'.length)
    const unsafe = unsafePath(folder)
    if (unsafe !== undefined) problems.push(problemAt(['sync', 'store'], `the folder \`${shownPath(folder)}\` ${unsafe.reason}`, unsafe.hint))
  }
  // The schema has checked the form; a number this large is no longer exact, or a year away.
  const seconds = durationSeconds(sync.interval)
  if (!Number.isSafeInteger(seconds) || seconds > MAX_INTERVAL_SECONDS)
    problems.push(problemAt(['sync', 'interval'], `expected at most 365d between two passes, got \`${sync.interval}\``, 'a pass a day (1d) or more often keeps the heartbeats meaningful'))
  const paths = sync.paths.map((p) => posix.normalize(p.path).replace(/\/+$/, ''))
  paths.forEach((path, i) => {
    const j = paths.findIndex((other, k) => k !== i && (other === path ? k < i : path.startsWith(other + '/')))
    if (j !== -1) {
      problems.push(problemAt(['sync', 'paths', i, 'path'], `\`${sync.paths[i]!.path}\` is already covered by sync.paths[${j}]`, 'list a directory once, and not inside another synced one'))
    }
  })
  return problems
}
