import type { LoadedHost } from './load-host.js'
import { locateProblem } from './load-host.js'
import { diskPath } from './disks.js'
import { problemAt } from './path-problem.js'
import type { HostProblem } from '../errors.js'

// Rules across host files: what must be unique in a fleet, and what hosts must agree on.
export function checkFleet(hosts: readonly LoadedHost[]): HostProblem[] {
  const problems: HostProblem[] = []
  const byName = new Map<string, LoadedHost>()
  const byHostId = new Map<string, LoadedHost>()
  for (const loaded of hosts) {
    const { host, file } = loaded
    const sameName = byName.get(host.name)
    if (sameName !== undefined) {
      problems.push(locateProblem(file, loaded.parsed, problemAt(['name'], `\`${host.name}\` is already the name of ${sameName.file}`, 'host names must be unique in a fleet; keep one file per host')))
    } else byName.set(host.name, loaded)
    const sameId = byHostId.get(host.hostId)
    if (sameId !== undefined) {
      problems.push(locateProblem(file, loaded.parsed, problemAt(['hostId'], `\`${host.hostId}\` is already the hostId of ${sameId.file}`, 'ZFS refuses to import a pool last used by another hostId; generate a new one with `head -c4 /dev/urandom | od -A none -t x4 | tr -d " "`')))
    } else byHostId.set(host.hostId, loaded)
  }

  problems.push(...checkSharedDisks(hosts))

  const servers = hosts.filter((h) => h.host.mesh.server)
  for (const extra of servers.slice(1)) {
    problems.push(locateProblem(extra.file, extra.parsed, problemAt(['mesh', 'server'], `the fleet already runs its Headscale server on ${servers[0]!.host.name}`, 'keep mesh.server: true on one host only')))
  }
  const server = servers[0]
  if (server !== undefined) {
    const url = server.host.mesh.loginServer
    for (const client of hosts) {
      const theirs = client.host.mesh.loginServer
      if (client.host.mesh.enable && theirs !== null && theirs !== url) {
        problems.push(locateProblem(client.file, client.parsed, problemAt(['mesh', 'loginServer'], `expected \`${url}\` (the fleet's server on ${server.host.name}), got \`${theirs}\``, 'every host of the fleet joins the same Headscale server')))
      }
    }
  }
  return problems
}

// One disk belongs to one host: the same by-id path or the same pinned serial in two host files
// means a deploy of one would wipe the other's disk (or one file was copied and not edited).
function checkSharedDisks(hosts: readonly LoadedHost[]): HostProblem[] {
  const problems: HostProblem[] = []
  const owners = new Map<string, { file: string; index: number }>()
  const names = new Set<string>()
  for (const loaded of hosts) {
    // A second file of one host name is reported as that already.
    if (names.has(loaded.host.name)) continue
    names.add(loaded.host.name)
    loaded.host.storage.disks.forEach((entry, index) => {
      const keys = [`path ${diskPath(entry)}`]
      const serial = typeof entry === 'string' ? null : entry.serial
      if (serial !== null) keys.push(`serial ${serial}`)
      for (const key of keys) {
        const owner = owners.get(key)
        if (owner === undefined) {
          owners.set(key, { file: loaded.file, index })
          continue
        }
        if (owner.file === loaded.file) continue
        const at =
          typeof entry === 'string'
            ? ['storage', 'disks', index]
            : ['storage', 'disks', index, key.startsWith('path') ? 'path' : 'serial']
        problems.push(
          locateProblem(
            loaded.file,
            loaded.parsed,
            problemAt(at, `the disk with ${key.replace(' ', ' `')}\` is already storage.disks[${owner.index}] of ${owner.file}`, 'a disk belongs to one host: name this host’s own disk (`ls -l /dev/disk/by-id/` on it)'),
          ),
        )
        break
      }
    })
  }
  return problems
}
