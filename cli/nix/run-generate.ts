import { UsageError } from '../errors.js'
import { loadConfig } from '../config.js'
import { loadFleet, selectHosts } from '../host/load-fleet.js'
import { processOutput, type Output } from '../ui/output.js'
import { planGenerate } from './plan-generate.js'
import { writeGenerated, type WriteReport } from './write-generated.js'

export interface GenerateOptions {
  hosts: string[]
  all: boolean
  fleet?: string
  cwd?: string
  output?: Output
}

export async function runGenerate(options: GenerateOptions): Promise<WriteReport> {
  const output = options.output ?? processOutput
  if (options.all === (options.hosts.length > 0)) {
    throw new UsageError(
      options.all ? 'name hosts or pass --all, not both' : 'nothing to generate',
      'run `keystone generate <host>…` or `keystone generate --all`',
    )
  }
  const { fleetRoot } = loadConfig(options)
  // Every host file is validated, even when generating one: fleet rules span files.
  const fleet = await loadFleet(fleetRoot)
  const selected = selectHosts(fleet, options.all ? [] : options.hosts)
  const report = await writeGenerated(fleetRoot, planGenerate(fleetRoot, selected))
  for (const file of report.written) output.out(`wrote ${file}`)
  const hostCount = `${selected.length} host${selected.length === 1 ? '' : 's'}`
  output.out(`${hostCount}: ${report.written.length} written, ${report.unchanged.length} unchanged`)
  return report
}
