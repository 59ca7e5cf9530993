import { readdir } from 'node:fs/promises'
import path from 'node:path'
import { HostFileError, UserError, type HostProblem } from '../errors.js'
import { checkFleet } from './fleet-checks.js'
import { loadHostFile, type LoadedHost } from './load-host.js'

export const HOSTS_DIR = 'hosts'

export async function listHostFiles(fleetRoot: string): Promise<string[]> {
  let entries: string[]
  try {
    entries = await readdir(path.join(fleetRoot, HOSTS_DIR))
  } catch {
    throw new UserError(`no ${HOSTS_DIR}/ directory in ${fleetRoot}`, {
      hint: 'run Keystone at the root of a fleet repository, or create a host with `keystone host new <name>`',
    })
  }
  return entries.filter((name) => /\.ya?ml$/.test(name)).sort()
}

// Loads every host file of the fleet, reporting all problems of all files at once.
export async function loadFleet(fleetRoot: string): Promise<LoadedHost[]> {
  const files = await listHostFiles(fleetRoot)
  const results = await Promise.all(
    files.map((name) => loadHostFile(path.join(fleetRoot, HOSTS_DIR, name), `${HOSTS_DIR}/${name}`)),
  )
  const problems: HostProblem[] = []
  const hosts: LoadedHost[] = []
  for (const result of results) {
    if (result.ok) hosts.push(result.loaded)
    else problems.push(...result.problems)
  }
  problems.push(...checkFleet(hosts))
  if (problems.length > 0) throw new HostFileError(problems)
  return hosts
}

// The hosts named on the command line, or all of them; an unknown name is a usage problem.
export function selectHosts(hosts: readonly LoadedHost[], names: readonly string[]): LoadedHost[] {
  if (names.length === 0) return [...hosts]
  return names.map((name) => {
    const found = hosts.find((h) => h.host.name === name)
    if (found === undefined) {
      const known = hosts.map((h) => h.host.name).join(', ') || 'none'
      throw new UserError(`no host named \`${name}\` in ${HOSTS_DIR}/`, { hint: `known hosts: ${known}` })
    }
    return found
  })
}
