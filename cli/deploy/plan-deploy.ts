import path from 'node:path'
import { diskPaths } from '../host/disks.js'
import type { Host } from '../host/host-schema.js'
import { DISK_KEYS, planPlacedFiles, type DiskKey, type PlacedFile } from './plan-key-material.js'
import { planNixosAnywhere, type PhaseName } from './plan-nixos-anywhere.js'
import type { Probe } from './probe.js'

// Everything `keystone deploy` will do, as data (STYLE.md §4), decided before anything is made:
// `keystone plan` and `deploy --dry-run` print it, the executor runs it, tests assert it.

export interface WipedDisk {
  path: string
  sizeBytes: number
  model: string
  serial: string
}

export interface PlannedPhase {
  name: PhaseName
  summary: string
  // The whole command: `nix run <keystone flake>#nixos-anywhere -- <nixos-anywhere argv>`.
  file: string
  args: string[]
}

export interface DeployPlan {
  host: string
  target: string
  kexec: boolean
  wipe: WipedDisk[]
  phases: PlannedPhase[]
  files: PlacedFile[]
  diskKeys: DiskKey[]
  secrets: string[]
  facterReport: string
  // What the host file gains once the install succeeded.
  pins: string[]
}

export interface DeployPlanInput {
  host: Host
  probe: Probe
  fleetRoot: string
  keystoneFlake: string
  // The private directory the key material will be made in.
  keyDir: string
  identityFile?: string
  // The vault secrets the host receives (names; see vault/render-host-secrets.ts).
  secrets: string[]
}

export function planDeploy(input: DeployPlanInput): DeployPlan {
  const { host, probe } = input
  const facterReport = path.join('hosts', host.name, 'facter.json')
  const nixosAnywhere = planNixosAnywhere({
    flake: input.fleetRoot,
    host: host.name,
    target: { address: host.ssh.address, user: host.ssh.user, port: host.ssh.port },
    ...(input.identityFile !== undefined && { identityFile: input.identityFile }),
    facterReport,
    diskKeys: DISK_KEYS.map((key) => ({
      remote: key.remote,
      local: path.join(input.keyDir, 'disk-keys', key.secret),
    })),
    extraFiles: path.join(input.keyDir, 'extra-files'),
    // An installer that is already running keeps its own SSH port; a kexec'd one listens on 22.
    installerPort: probe.installer ? host.ssh.port : 22,
  })
  const wipe = diskPaths(host.storage).map((diskPath) => {
    const disk = probe.disks.find((candidate) => candidate.id === path.basename(diskPath))
    return {
      path: diskPath,
      sizeBytes: disk?.sizeBytes ?? 0,
      model: disk?.model ?? '?',
      serial: disk?.serial ?? '?',
    }
  })
  return {
    host: host.name,
    target: `${host.ssh.user}@${host.ssh.address}:${host.ssh.port}`,
    kexec: !probe.installer,
    wipe,
    phases: nixosAnywhere.map((phase) => ({
      name: phase.name,
      summary: phase.summary,
      file: 'nix',
      args: ['run', `${input.keystoneFlake}#nixos-anywhere`, '--', ...phase.argv],
    })),
    files: planPlacedFiles(host),
    diskKeys: DISK_KEYS,
    secrets: input.secrets,
    facterReport,
    pins: [
      'ssh.hostKey (the new SSH host key)',
      ...(host.remoteUnlock.enable ? ['remoteUnlock.hostKey (the initrd’s SSH host key)'] : []),
      'storage.disks (size and serial of each disk)',
    ],
  }
}
