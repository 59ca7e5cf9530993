import type { LoadedHost } from './load-host.js'
import { locateProblem } from './load-host.js'
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
