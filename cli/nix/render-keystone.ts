import { diskPaths } from '../host/disks.js'
import { durationSeconds } from '../host/durations.js'
import type { Host } from '../host/host-schema.js'
import { parseSize } from '../host/sizes.js'
import type { NixValue } from './emit.js'
import { espMountPoint } from './render-disko.js'

// The host's settings for Keystone's NixOS modules (`modules/`), as plain data. The modules own
// the wiring (initrd units, Lanzaboote, crypttab, sshd); this file only says what this host wants.
export function renderKeystoneOptions(host: Host): NixValue {
  const { storage } = host
  const keystone: Record<string, NixValue> = {
    role: host.role,
    disk: {
      enable: true,
      pool: storage.pool.name,
      devices: diskPaths(storage),
      espMountPoints: storage.disks.map((_, i) => espMountPoint(i)).slice(0, storage.layout === 'mirror' ? undefined : 1),
      arcMaxBytes: parseSize(storage.pool.arcMax) ?? 0,
    },
    secureBoot: {
      enable: host.secureBoot.enable,
      microsoftKeys: host.secureBoot.microsoftKeys,
      keys: host.secureBoot.keys,
    },
    tpm: { enable: host.tpm.enable, pcrs: host.tpm.pcrs },
    remoteUnlock: {
      enable: host.remoteUnlock.enable,
      port: host.remoteUnlock.port,
      networkModules: host.remoteUnlock.networkModules,
    },
    users: {
      admins: Object.fromEntries(host.admins.map((admin) => [admin.name, { sshKeys: admin.sshKeys }])),
    },
    mesh: host.mesh.enable
      ? { enable: true, loginServer: host.mesh.loginServer, tags: host.mesh.tags, server: host.mesh.server }
      : { enable: false },
  }
  if (host.sync.enable) {
    keystone.syncAgent = {
      enable: true,
      store: host.sync.store,
      endpoint: host.sync.endpoint,
      region: host.sync.region,
      caFile: host.sync.caFile,
      pathStyle: host.sync.pathStyle,
      paths: host.sync.paths.map((p) => ({ path: p.path, mode: p.mode })),
      intervalSeconds: durationSeconds(host.sync.interval),
      watch: host.sync.watch,
      retention: host.sync.retention,
      metrics: { enable: host.sync.metrics },
    }
  }
  return {
    networking: { hostName: host.name, hostId: host.hostId },
    nixpkgs: { hostPlatform: host.system },
    system: { stateVersion: host.stateVersion },
    keystone,
  }
}

