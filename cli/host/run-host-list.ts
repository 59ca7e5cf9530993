import { loadConfig } from '../config.js'
import { processOutput, type Output } from '../ui/output.js'
import { renderTable } from '../ui/table.js'
import { loadFleet } from './load-fleet.js'

export interface HostListOptions {
  json?: boolean
  fleet?: string
  cwd?: string
  output?: Output
}

export async function runHostList(options: HostListOptions = {}): Promise<void> {
  const output = options.output ?? processOutput
  const { fleetRoot } = loadConfig(options)
  const hosts = (await loadFleet(fleetRoot)).map((h) => h.host)
  if (options.json === true) {
    output.out(JSON.stringify(hosts, null, 2))
    return
  }
  const onOff = (on: boolean) => (on ? 'on' : 'off')
  const rows = hosts.map((h) => [
    h.name,
    h.role,
    h.system,
    `${h.ssh.user}@${h.ssh.address}${h.ssh.port === 22 ? '' : `:${h.ssh.port}`}`,
    `${h.storage.layout} (${h.storage.disks.length})`,
    onOff(h.secureBoot.enable),
    h.tpm.enable ? `pcr ${h.tpm.pcrs.join('+')}` : 'off',
    h.mesh.enable ? 'on' : 'off',
    h.sync.enable ? `${h.sync.paths.length} path${h.sync.paths.length === 1 ? '' : 's'}` : 'off',
  ])
  output.out(renderTable(['HOST', 'ROLE', 'SYSTEM', 'SSH', 'DISKS', 'SECURE BOOT', 'TPM', 'MESH', 'SYNC'], rows))
}
