import { posix } from 'node:path'
import { diskPaths } from '../host/disks.js'
import type { Host } from '../host/host-schema.js'
import type { NixValue } from './emit.js'

// The disko layout of the credstore pattern. Types and attributes from nix-community/disko
// lib/types/{disk,gpt,filesystem,zfs,swap,zpool,zfs_fs,zfs_volume,luks}.nix.
//
//   each disk:  GPT ── ESP (vfat, /boot)  ── ZFS member  ── swap (last disk; random key per boot)
//   pool:       <pool>/credstore  zvol ── LUKS "credstore" ── ext4   (holds the ZFS key; TPM unlock)
//               <pool>/crypt      aes-256-gcm, raw key from the credstore
//               <pool>/crypt/system → /, /system/nix → /nix, /system/var → /var, extra datasets

// Paths inside the installer where `keystone deploy` places key material with nixos-anywhere's
// --disk-encryption-keys (written with umask 077 before disko runs, in RAM).
export const INSTALLER_CREDSTORE_PASSPHRASE = '/run/keystone/credstore-passphrase'
export const INSTALLER_ZFS_KEY = '/run/keystone/zfs-raw-key'
// The file inside the credstore that holds the ZFS key; its name is the credential name that
// the initrd unit loads (`LoadCredential=zfs-sysroot.mount:…`).
export const CREDSTORE_ZFS_KEY_NAME = 'zfs-sysroot.mount'

export function diskName(index: number): string {
  return `disk${index}`
}

// Every ESP after the first is mounted beside it so that the boot loader can be installed on
// all mirror members (a mirror must boot from any one disk).
export function espMountPoint(index: number): string {
  return index === 0 ? '/boot' : `/boot${index}`
}

function hasSwap(host: Host): boolean {
  return host.storage.swapSize !== 0 && host.storage.swapSize !== '0'
}

function renderPartitions(host: Host, index: number): Record<string, NixValue> {
  const { storage } = host
  const isLast = index === storage.disks.length - 1
  const withEsp = index === 0 || storage.layout === 'mirror'
  const withSwap = isLast && hasSwap(host)
  const partitions: Record<string, NixValue> = {}
  if (withEsp) {
    partitions.esp = {
      // Explicit priorities keep the on-disk order ESP, ZFS, swap (gpt.nix sorts by priority).
      priority: 1,
      size: storage.espSize,
      type: 'EF00',
      content: {
        type: 'filesystem',
        format: 'vfat',
        mountpoint: espMountPoint(index),
        mountOptions: ['umask=0077'],
      },
    }
  }
  // The ZFS member takes the rest of the disk, up to the swap at its end (gpt.nix: `end` in
  // sgdisk format, "-8G" counts from the end of the disk).
  const zfsExtent: Record<string, NixValue> =
    storage.poolSize !== '100%'
      ? { size: storage.poolSize }
      : withSwap
        ? { end: `-${storage.swapSize}` }
        : { size: '100%' }
  partitions.zfs = { priority: 2, ...zfsExtent, content: { type: 'zfs', pool: storage.pool.name } }
  if (withSwap) {
    partitions.swap = {
      priority: 3,
      size: storage.poolSize === '100%' ? '100%' : String(storage.swapSize),
      // swap.nix: randomEncryption re-keys the partition from /dev/urandom at every boot.
      content: { type: 'swap', randomEncryption: true },
    }
  }
  return partitions
}

function renderCredstore(host: Host): NixValue {
  // The TPM's crypttab options (tpm2-device=auto) come from modules/tpm when the host enables
  // it, so that disabling the TPM in the host file needs no change to the disk layout.
  const luksSettings: Record<string, NixValue> = { allowDiscards: true }
  return {
    type: 'zfs_volume',
    size: host.storage.credstoreSize,
    content: {
      type: 'luks',
      name: 'credstore',
      // The initial passphrase is placed in the installer's RAM by `keystone deploy`; no password
      // ever enters the Nix store. `keystone enroll` replaces it with the TPM and a recovery key.
      passwordFile: INSTALLER_CREDSTORE_PASSPHRASE,
      settings: luksSettings,
      content: { type: 'filesystem', format: 'ext4' },
    },
  }
}

// Hooks run by disko around the commands of the `<pool>/crypt` node (lib/default.nix mkSubType
// hooks; mkCreateOption/mkMountOption put pre* before and post* after the node's own commands).
// The credstore already exists and is open: zpool.nix creates and mounts datasets in
// attribute-name order, and "credstore" sorts before "crypt".
function renderCryptHooks(pool: string): Record<string, string> {
  const keyFile = `/etc/credstore/${CREDSTORE_ZFS_KEY_NAME}`
  const crypt = `${pool}/crypt`
  const closeCredstore = [
    'if mountpoint -q /etc/credstore; then umount /etc/credstore; fi',
    // An open credstore holds the zvol, and so the pool, busy: nixos-anywhere's `zpool export -a
    // || true` before the first reboot would fail silently and the initrd import would need -f.
    'if cryptsetup status credstore >/dev/null 2>&1; then cryptsetup close credstore; fi',
    '',
  ].join('\n')
  return {
    // The create hooks run on every `disko --mode format`, also when the dataset exists (a
    // re-run): only a new dataset gets the installer's key, an existing one keeps its own.
    preCreateHook: [
      'mountpoint -q /etc/credstore || mount -o X-mount.mkdir /dev/mapper/credstore /etc/credstore',
      `if ! zfs get type ${crypt} >/dev/null 2>&1; then`,
      `  install -m 0400 ${INSTALLER_ZFS_KEY} ${keyFile}`,
      'fi',
      '',
    ].join('\n'),
    postCreateHook: closeCredstore,
    // zfs_fs.nix runs `zfs load-key` at mount when the key is not loaded (a mount-only run); the
    // keylocation file is only there while the credstore is mounted.
    preMountHook: [
      `if [ "$(zfs get -H -o value keystatus ${crypt})" = unavailable ]; then`,
      '  mount -o ro,X-mount.mkdir /dev/mapper/credstore /etc/credstore',
      'fi',
      '',
    ].join('\n'),
    postMountHook: closeCredstore,
  }
}

// NixOS rejects a mountpoint with a trailing slash (filesystems.nix `mountPoint`), and the
// host checks compare normalised paths: emit the same normal form they checked.
function normaliseMountpoint(mountpoint: string): string {
  return posix.normalize(mountpoint).replace(/\/+$/, '') || '/'
}

function renderDatasets(host: Host): Record<string, NixValue> {
  const datasets: Record<string, NixValue> = {
    credstore: renderCredstore(host),
    crypt: {
      type: 'zfs_fs',
      options: {
        mountpoint: 'none',
        encryption: 'aes-256-gcm',
        keyformat: 'raw',
        keylocation: `file:///etc/credstore/${CREDSTORE_ZFS_KEY_NAME}`,
      },
      ...renderCryptHooks(host.storage.pool.name),
    },
    'crypt/system': { type: 'zfs_fs', mountpoint: '/' },
    'crypt/system/nix': {
      type: 'zfs_fs',
      mountpoint: '/nix',
      // The store is reproducible from the flake: snapshots of it only cost space.
      options: { 'com.sun:auto-snapshot': 'false' },
    },
    'crypt/system/var': { type: 'zfs_fs', mountpoint: '/var' },
  }
  for (const dataset of host.storage.datasets) {
    const entry: Record<string, NixValue> = { type: 'zfs_fs' }
    if (dataset.mountpoint !== null) entry.mountpoint = normaliseMountpoint(dataset.mountpoint)
    else entry.options = { mountpoint: 'none' }
    if (Object.keys(dataset.options).length > 0) {
      entry.options = { ...(entry.options as Record<string, NixValue> | undefined), ...dataset.options }
    }
    datasets[`crypt/${dataset.name}`] = entry
  }
  return datasets
}

export function renderDisko(host: Host): NixValue {
  const { storage } = host
  const disk: Record<string, NixValue> = {}
  diskPaths(storage).forEach((device, index) => {
    disk[diskName(index)] = {
      type: 'disk',
      device,
      content: { type: 'gpt', partitions: renderPartitions(host, index) },
    }
  })
  return {
    disko: {
      devices: {
        disk,
        zpool: {
          [storage.pool.name]: {
            type: 'zpool',
            mode: storage.layout === 'mirror' ? 'mirror' : '',
            options: { ashift: String(storage.pool.ashift), autotrim: 'on' },
            rootFsOptions: {
              mountpoint: 'none',
              compression: storage.pool.compression,
              acltype: 'posixacl',
              xattr: 'sa',
              atime: 'off',
              'com.sun:auto-snapshot': 'false',
            },
            datasets: renderDatasets(host),
          },
        },
      },
    },
  }
}
