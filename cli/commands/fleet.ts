import type { CommandModule } from 'yargs'
import { fleetOption } from './fleet-option.js'

interface FleetStatusCommandArgs {
  hosts: string[]
  json: boolean
  watch: boolean
  interval: number
  's3-credentials'?: string
  's3-ca'?: string
  fleet?: string
}

const status: CommandModule<object, FleetStatusCommandArgs> = {
  command: 'status [hosts..]',
  describe: 'Every host\'s health from its signed heartbeats in the bucket',
  builder: (y) =>
    y
      .positional('hosts', { type: 'string', array: true, default: [], describe: 'hosts to show (default: all)' })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
      .option('watch', { type: 'boolean', default: false, describe: 'show it again every --interval seconds until Ctrl-C' })
      .option('interval', { type: 'number', default: 10, describe: 'seconds between two looks with --watch' })
      .option('s3-credentials', { type: 'string', describe: 'file with AWS_ACCESS_KEY_ID=… and AWS_SECRET_ACCESS_KEY=… (default: the AWS_* environment)' })
      .option('s3-ca', { type: 'string', describe: "https: the certificate (PEM) of the CA that signed the S3 server's certificate, trusted besides the system's" })
      .option('fleet', fleetOption)
      .example('$0 fleet status', 'one row per host: ok, stale, offline, never seen, forged, replayed, chain broken')
      .example('$0 fleet status --json', 'the same, with every field, for scripts') as never,
  handler: async (args) => {
    const { runFleetStatus } = await import('../fleet/run-fleet-status.js')
    const controller = new AbortController()
    const stop = () => controller.abort()
    process.once('SIGINT', stop)
    try {
      await runFleetStatus({
        hosts: args.hosts,
        json: args.json,
        watch: args.watch,
        intervalSeconds: args.interval,
        signal: controller.signal,
        ...(args['s3-credentials'] !== undefined && { s3Credentials: args['s3-credentials'] }),
        ...(args['s3-ca'] !== undefined && { s3Ca: args['s3-ca'] }),
        ...(args.fleet !== undefined && { fleet: args.fleet }),
      })
    } finally {
      process.off('SIGINT', stop)
    }
  },
}

export const fleet: CommandModule = {
  command: 'fleet <command>',
  describe: 'The fleet as its hosts report it',
  builder: (y) => y.command(status).demandCommand(1, 'name a fleet command: status'),
  handler: () => undefined,
}
