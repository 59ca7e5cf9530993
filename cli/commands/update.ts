import type { CommandModule } from 'yargs'
import { fleetOption } from './fleet-option.js'

// `keystone update`: roll the fleet's current configuration out to installed hosts.
interface UpdateArgs {
  hosts: string[]
  all: boolean
  parallel: number
  fleet?: string
  'ssh-key'?: string
  'dry-run': boolean
  json: boolean
}

export const update: CommandModule<object, UpdateArgs> = {
  command: 'update [hosts..]',
  describe: 'Build, copy and switch installed hosts to their configuration (boot entry first)',
  builder: (y) =>
    y
      .positional('hosts', {
        type: 'string',
        array: true,
        default: [],
        describe: 'host names from hosts/',
      })
      .option('all', { type: 'boolean', default: false, describe: 'every host of the fleet' })
      .option('parallel', {
        type: 'number',
        default: 10,
        describe: 'hosts updated at the same time',
      })
      .option('fleet', fleetOption)
      .option('ssh-key', {
        type: 'string',
        describe: 'private key to log in with (default: your ssh-agent)',
      })
      .option('dry-run', {
        type: 'boolean',
        default: false,
        describe: "print each host's build, copy, boot entry and switch; run nothing",
      })
      .option('json', { type: 'boolean', default: false, describe: 'with --dry-run: as JSON' })
      .example('$0 update --all', 'update every host, 10 at a time')
      .example('$0 update --all --dry-run', 'what an update of every host would run')
      .example('$0 update web1 storage1 --parallel 1', 'two hosts, one after the other') as never,
  handler: async (args) => {
    const { runUpdate } = await import('../deploy/run-update.js')
    await runUpdate({
      hosts: args.hosts,
      all: args.all,
      parallel: args.parallel,
      dryRun: args['dry-run'],
      json: args.json,
      ...(args.fleet !== undefined && { fleet: args.fleet }),
      ...(args['ssh-key'] !== undefined && { sshKey: args['ssh-key'] }),
    })
  },
}
