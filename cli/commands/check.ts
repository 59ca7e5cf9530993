import type { CommandModule } from 'yargs'
import { fleetOption } from './fleet-option.js'

interface CheckArgs {
  json: boolean
  fleet?: string
}

export const check: CommandModule<object, CheckArgs> = {
  command: 'check',
  describe: 'Validate every host file and fail if generated Nix is missing, stale or hand-edited',
  builder: (y) =>
    y
      .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' })
      .option('fleet', fleetOption)
      .example('$0 check', 'validate hosts/*.yaml and hosts/*/*.nix') as never,
  handler: async (args) => {
    // Lazy, so that `keystone --help` never loads ajv or yaml.
    const { runCheck } = await import('../nix/run-check.js')
    await runCheck({ json: args.json, ...(args.fleet === undefined ? {} : { fleet: args.fleet }) })
  },
}
