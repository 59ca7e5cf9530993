import { HostFileError, UserError } from '../errors.js'
import { loadConfig } from '../config.js'
import { loadFleet } from '../host/load-fleet.js'
import { processOutput, type Output } from '../ui/output.js'
import { checkGenerated, type GeneratedProblem } from './check-generated.js'
import { planGenerate } from './plan-generate.js'

export interface CheckOptions {
  json?: boolean
  fleet?: string
  cwd?: string
  output?: Output
}

export interface CheckReport {
  hosts: string[]
  generated: GeneratedProblem[]
}

// Validates every host file and the generated Nix. Problems are errors, so the exit code says it.
export async function runCheck(options: CheckOptions = {}): Promise<CheckReport> {
  const output = options.output ?? processOutput
  const { fleetRoot } = loadConfig(options)
  let fleet
  try {
    fleet = await loadFleet(fleetRoot)
  } catch (error) {
    if (options.json === true && error instanceof HostFileError) {
      output.out(JSON.stringify({ ok: false, hostProblems: error.problems, generated: [] }, null, 2))
    }
    throw error
  }
  const generated = await checkGenerated(fleetRoot, planGenerate(fleetRoot, fleet))
  const report: CheckReport = { hosts: fleet.map((h) => h.host.name), generated }
  if (options.json === true) {
    output.out(JSON.stringify({ ok: generated.length === 0, hosts: report.hosts, hostProblems: [], generated }, null, 2))
  } else {
    for (const problem of generated) output.err(`${problem.message} — hint: ${problem.hint}`)
  }
  if (generated.length > 0) {
    const count = generated.length
    throw new UserError(`${count} generated file${count === 1 ? ' is' : 's are'} out of date`, {
      hint: 'run `keystone generate --all`, review the diff and commit it',
    })
  }
  if (options.json !== true) {
    output.out(`${fleet.length} host${fleet.length === 1 ? '' : 's'} valid; generated files up to date`)
  }
  return report
}
