import { shellQuote } from '../deploy/render-plan.js'
import type { NixValue } from '../nix/emit.js'

// The disk layout of a generated disko.nix as the shell commands that create and mount it, for
// the rehearsal machine, where disko itself cannot run (its scripts are built with nixpkgs). The
// input is the very value `keystone generate` writes into hosts/<name>/disko.nix (renderDisko),
// hooks included, so the rehearsal applies the layout a deploy would. The commands follow what
// disko's types do for each node Keystone emits (nix-community/disko lib/types/gpt.nix,
// filesystem.nix, swap.nix, zfs.nix, zpool.nix, zfs_volume.nix, zfs_fs.nix, luks.nix): partitions
// in priority order with their `disk-<disk>-<partition>` labels, pool members collected, the pool
// created under the install root, datasets in name order with their create hooks around them,
// then mounts in mount-point order. Not covered: node types Keystone never emits (lvm, mdadm,
// btrfs, bcachefs), and disko's own re-run checks beyond "the dataset exists".

type Node = { readonly [key: string]: NixValue | undefined }

export interface Layout {
  // Runs once on blank disks (the deploy plan's wipe comes first).
  create: string[]
  mount: string[]
}

const str = (value: NixValue | undefined) => (typeof value === 'string' ? value : undefined)
const node = (value: NixValue | undefined): Node =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Node) : {}
const byName = (attrs: Node) =>
  Object.keys(attrs)
    .sort()
    .map((name) => [name, node(attrs[name])] as const)
const q = shellQuote
const hook = (lines: string[], text: NixValue | undefined) => {
  const body = str(text)
  if (body !== undefined && body.trim() !== '') lines.push(body.trimEnd())
}

// disko's `size`/`end` to sgdisk's end field: `100%` is the rest of the disk (`-0`), a size is
// relative to the start (`+1G`), an `end` is kept as written (`-8G`: 8 GiB before the end).
function sgdiskEnd(partition: Node): string {
  const end = str(partition.end)
  if (end !== undefined) return end
  const size = str(partition.size) ?? '100%'
  return size === '100%' ? '-0' : `+${size}`
}

const settle = 'udevadm trigger --subsystem-match=block && udevadm settle'

interface Mount {
  where: string
  lines: string[]
}

function contentCommands(
  content: Node,
  device: string,
  root: string,
  out: { create: string[]; mounts: Mount[]; members: Map<string, string[]> },
): void {
  const type = str(content.type)
  if (type === 'filesystem') {
    const format = str(content.format) ?? 'ext4'
    out.create.push(`mkfs.${format} ${q(device)}`)
    const mountpoint = str(content.mountpoint)
    if (mountpoint !== undefined) {
      const options = Array.isArray(content.mountOptions)
        ? (content.mountOptions as string[])
        : ['defaults']
      out.mounts.push({
        where: mountpoint,
        lines: [
          `mount -t ${format} -o X-mount.mkdir ${options.map((o) => `-o ${q(o)}`).join(' ')} ${q(device)} ${q(root + mountpoint)}`,
        ],
      })
    }
  } else if (type === 'swap') {
    // The partition is only the container: with randomEncryption the system formats a
    // dm-crypt mapping of it with a fresh key at every boot (nixpkgs config/swap.nix).
    out.create.push(`mkswap ${q(device)}`)
  } else if (type === 'zfs') {
    const pool = str(content.pool)!
    out.members.set(pool, [...(out.members.get(pool) ?? []), device])
  } else if (type === 'luks') {
    const name = str(content.name)!
    const passwordFile = str(content.passwordFile)!
    const settings = node(content.settings)
    // luks.nix reads passwordFile through `$(cat …)`: a trailing newline is not part of the key.
    const key = `--key-file <(printf %s "$(cat ${q(passwordFile)})")`
    out.create.push(`cryptsetup -q luksFormat --type luks2 ${q(device)} ${key}`)
    out.create.push(
      `cryptsetup open ${q(device)} ${q(name)}${settings.allowDiscards === true ? ' --allow-discards' : ''} ${key}`,
    )
    contentCommands(node(content.content), `/dev/mapper/${name}`, root, out)
  }
}

export function planLayout(disko: NixValue, root = '/mnt'): Layout {
  const devices = node(node(node(disko).disko).devices)
  const create: string[] = []
  const mounts: Mount[] = []
  const members = new Map<string, string[]>()
  const out = { create, mounts, members }

  for (const [diskName, disk] of byName(node(devices.disk))) {
    const device = str(disk.device)!
    const partitions = Object.entries(node(node(disk.content).partitions))
      .map(([name, value]) => [name, node(value)] as const)
      .sort(
        ([a, pa], [b, pb]) =>
          Number(pa.priority ?? 1000) - Number(pb.priority ?? 1000) || (a < b ? -1 : 1),
      )
    partitions.forEach(([partName, partition], i) => {
      const index = i + 1
      // gpt.nix: the label defaults to `<parent type>-<disk name>-<partition name>`; the
      // partition type to 8300 (Linux file system).
      const label = str(partition.label) ?? `disk-${diskName}-${partName}`
      create.push(
        `sgdisk --align-end --new=${index}:0:${sgdiskEnd(partition)} --change-name=${index}:${q(label)} --typecode=${index}:${str(partition.type) ?? '8300'} ${q(device)}`,
      )
    })
    // sgdisk has the kernel re-read the table; udev then makes the by-partlabel links.
    create.push(settle)
    for (const [partName, partition] of partitions) {
      const label = str(partition.label) ?? `disk-${diskName}-${partName}`
      contentCommands(node(partition.content), `/dev/disk/by-partlabel/${label}`, root, out)
    }
  }

  for (const [poolName, pool] of byName(node(devices.zpool))) {
    const mode = str(pool.mode) ?? ''
    const options = Object.entries(node(pool.options)).map(
      ([k, v]) => `-o ${q(`${k}=${String(v)}`)}`,
    )
    const fsOptions = Object.entries(node(pool.rootFsOptions)).map(
      ([k, v]) => `-O ${q(`${k}=${String(v)}`)}`,
    )
    create.push(
      [
        'zpool create -f',
        `-R ${q(root)}`,
        ...options,
        ...fsOptions,
        q(poolName),
        ...(mode === '' ? [] : [mode]),
        ...(members.get(poolName) ?? []).map(q),
      ].join(' '),
    )
    for (const [name, dataset] of byName(node(pool.datasets))) {
      const full = `${poolName}/${name}`
      const props = { ...node(dataset.options) }
      const mountpoint = str(dataset.mountpoint)
      // zfs_fs.nix: a dataset with a mount point gets it as its mountpoint property.
      if (mountpoint !== undefined && props.mountpoint === undefined) props.mountpoint = mountpoint
      const flags = Object.entries(props).map(([k, v]) => `-o ${q(`${k}=${String(v)}`)}`)
      hook(create, dataset.preCreateHook)
      if (str(dataset.type) === 'zfs_volume') {
        create.push(
          `zfs create -V ${q(str(dataset.size)!)} ${[...flags, q(full)].join(' ')}`,
          settle,
        )
        contentCommands(node(dataset.content), `/dev/zvol/${full}`, root, out)
      } else {
        create.push(
          `if ! zfs get type ${q(full)} >/dev/null 2>&1; then zfs create -up ${[q(full), ...flags].join(' ')}; fi`,
        )
        if (mountpoint !== undefined && props.mountpoint !== 'none') {
          const lines: string[] = []
          hook(lines, dataset.preMountHook)
          lines.push(
            `mount -t zfs -o X-mount.mkdir -o defaults${props.mountpoint === 'legacy' ? '' : ' -o zfsutil'} ${q(full)} ${q(root + (mountpoint === '/' ? '' : mountpoint) || '/')}`,
          )
          hook(lines, dataset.postMountHook)
          mounts.push({ where: mountpoint, lines })
        }
      }
      hook(create, dataset.postCreateHook)
    }
  }

  // A mount point after the one it lies under: `/` before `/boot` and `/var`.
  mounts.sort((a, b) => (a.where < b.where ? -1 : a.where > b.where ? 1 : 0))
  return { create, mount: mounts.flatMap((m) => m.lines) }
}

// One script for `bash -s` on the machine: stop at the first failing command.
export function layoutScript(layout: Layout): string {
  return ['set -euo pipefail', ...layout.create, ...layout.mount, ''].join('\n')
}
