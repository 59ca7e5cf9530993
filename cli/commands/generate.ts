import type { CommandModule } from 'yargs'
import { fleetOption } from './fleet-option.js'

interface GenerateArgs {
  hosts: string[]
  all: boolean
  fleet?: string
}

export const generate: CommandModule<object, GenerateArgs> = {
  command: 'generate [hosts..]',
  describe: 'Write the Nix (disko layout, boot, users, mesh) for hosts into hosts/<name>/',
  builder: (y) =>
    y
      .positional('hosts', { type: 'string', array: true, default: [], describe: 'host names from hosts/' })
      .option('all', { type: 'boolean', default: false, describe: 'every host of the fleet' })
      .option('fleet', fleetOption)
      .example('$0 generate --all', 'regenerate the whole fleet')
      .example('$0 generate web1', 'regenerate one host') as never,
  handler: async (args) => {
    const { runGenerate } = await import('../nix/run-generate.js')
    await runGenerate({ hosts: args.hosts, all: args.all, ...(args.fleet === undefined ? {} : { fleet: args.fleet }) })
  },
}
