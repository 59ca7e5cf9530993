import path from 'node:path'
import { keystoneFlakeDir } from '../deploy/keystone-flake.js'
import { runTool } from '../deploy/run-tool.js'
import { emitNix, type NixValue } from '../nix/emit.js'
import { cpioArchive } from './cpio.js'
import { renderUnits, type BootUnits } from './render-units.js'

// What the rehearsal adds to its guest's initrd so that it boots like a Keystone host: the
// credstore boot's units from modules/disk/credstore-boot-units.nix (evaluated by Nix, with the
// pool members from lib/pool-members.nix), the credstore's crypttab line with the options of
// modules/tpm/credstore-crypttab-options.nix, and the /sysroot file systems in the initrd's fstab,
// as NixOS writes them for the file systems needed for boot. One cpio archive, loaded after the
// guest's own initrd.

// nixpkgs nixos/lib/utils.nix pathsNeededForBoot: what the initrd mounts under /sysroot.
export const PATHS_NEEDED_FOR_BOOT = [
  '/',
  '/nix',
  '/nix/store',
  '/var',
  '/var/log',
  '/var/lib',
  '/var/lib/nixos',
  '/etc',
  '/usr',
]

// Debian's zfsutils-linux (bookworm is /usr-merged).
const DEBIAN_ZFS = { zpool: '/usr/sbin/zpool', zfs: '/usr/sbin/zfs' }

// systemd-escape --path (systemd.unit(5) "String Escaping for Inclusion in Unit Names").
export function escapeSystemdPath(p: string): string {
  const trimmed = p.replace(/^\/+|\/+$/g, '').replace(/\/+/g, '/')
  if (trimmed === '') return '-'
  return [...Buffer.from(trimmed, 'utf8')]
    .map((byte, i) => {
      const c = String.fromCharCode(byte)
      if (c === '/') return '-'
      if (/[A-Za-z0-9:_]/.test(c) || (c === '.' && i > 0)) return c
      return `\\x${byte.toString(16).padStart(2, '0')}`
    })
    .join('')
}

async function evalNix(expression: string): Promise<unknown> {
  return JSON.parse(
    await runTool('nix-instantiate', ['--eval', '--strict', '--json', '--expr', expression]),
  )
}

export interface BootFacts {
  pool: string
  disks: string[]
  devNodes: string
  // ZFS file systems by mount point, from the host's disko layout.
  datasets: { dataset: string; mountpoint: string }[]
  tpm: boolean
  allowDiscards: boolean
}

export async function evalBootUnits(
  facts: BootFacts,
  source = keystoneFlakeDir(),
): Promise<BootUnits> {
  const at = (file: string) => path.join(source, file)
  const members = (await evalNix(
    `import ${at('lib/pool-members.nix')} ${emitNix(facts.disks)}`,
  )) as string[]
  const args: Record<string, NixValue> = {
    pool: facts.pool,
    ...DEBIAN_ZFS,
    devNodes: facts.devNodes,
    memberUnits: members.map((member) => `${escapeSystemdPath(member)}.device`),
    bootDatasets: bootFileSystems(facts).map((fs) => fs.dataset),
  }
  return (await evalNix(
    `import ${at('modules/disk/credstore-boot-units.nix')} ${emitNix(args)}`,
  )) as BootUnits
}

export async function crypttabOptions(
  facts: BootFacts,
  source = keystoneFlakeDir(),
): Promise<string[]> {
  const tpm = facts.tpm
    ? ((await evalNix(
        `import ${path.join(source, 'modules/tpm/credstore-crypttab-options.nix')}`,
      )) as string[])
    : []
  return [...(facts.allowDiscards ? ['discard'] : []), ...tpm]
}

export const bootFileSystems = (facts: BootFacts) =>
  facts.datasets
    .filter((fs) => PATHS_NEEDED_FOR_BOOT.includes(fs.mountpoint))
    .sort((a, b) => (a.mountpoint < b.mountpoint ? -1 : 1))

export function initrdOverlay(units: BootUnits, facts: BootFacts, options: string[]): Buffer {
  const rendered = renderUnits(units)
  // nixpkgs luksroot.nix (systemd stage 1): `<name> <device> <key file or -> <options>`.
  const crypttab = `credstore /dev/zvol/${facts.pool}/credstore - ${options.join(',') || 'none'}\n`
  const fstab = bootFileSystems(facts)
    .map(
      (fs) => `${fs.dataset} /sysroot${fs.mountpoint === '/' ? '' : fs.mountpoint} zfs zfsutil 0 0`,
    )
    .join('\n')
  return cpioArchive([
    { path: 'etc', type: 'dir' },
    { path: 'etc/systemd', type: 'dir' },
    { path: 'usr', type: 'dir' },
    { path: 'usr/lib', type: 'dir' },
    ...rendered.entries,
    { path: 'etc/crypttab', type: 'file', data: crypttab },
    { path: 'etc/fstab', type: 'file', data: fstab + '\n' },
  ])
}

type Node = { readonly [key: string]: NixValue | undefined }
const node = (value: NixValue | undefined): Node =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Node) : {}

// The facts the initrd needs, read from the host's generated disko value (renderDisko), and the
// module defaults a generated host keeps (keystone.disk.devNodes).
export function bootFactsOf(disko: NixValue, tpm: boolean): BootFacts {
  const devices = node(node(node(disko).disko).devices)
  const disks = Object.keys(node(devices.disk))
    .sort()
    .map((name) => String(node(node(devices.disk)[name]).device))
  const [pool, spec] = Object.entries(node(devices.zpool))[0]!
  const datasets = Object.entries(node(node(spec).datasets)).flatMap(([name, value]) => {
    const dataset = node(value)
    const mountpoint = dataset.mountpoint
    return dataset.type === 'zfs_fs' && typeof mountpoint === 'string'
      ? [{ dataset: `${pool}/${name}`, mountpoint }]
      : []
  })
  const credstore = node(node(node(node(spec).datasets).credstore).content)
  return {
    pool,
    disks,
    devNodes: '/dev/disk/by-id',
    datasets,
    tpm,
    allowDiscards: node(credstore.settings).allowDiscards === true,
  }
}
