import type { CommandModule } from 'yargs'
import { fleetOption } from './fleet-option.js'
import { identityFrom, identityOptions, type IdentityArgs } from './identity-options.js'

// `keystone enroll <host>`: Secure Boot keys and the TPM, after the first boot.
interface EnrollArgs extends IdentityArgs {
  host: string
  fleet?: string
  'ssh-key'?: string
  'credstore-device'?: string
  'tpm2-device'?: string
  'dry-run': boolean
  json: boolean
}

export const enroll: CommandModule<object, EnrollArgs> = {
  command: 'enroll <host>',
  describe:
    'Enroll Secure Boot keys and bind the credstore to the TPM (recovery key into the vault)',
  builder: (y) =>
    identityOptions(y)
      .positional('host', { type: 'string', demandOption: true, describe: 'host name from hosts/' })
      .option('fleet', fleetOption)
      .option('ssh-key', {
        type: 'string',
        describe: 'private key to log in with (default: your ssh-agent)',
      })
      .option('credstore-device', {
        type: 'string',
        hidden: true,
        describe: 'the credstore (default /dev/zvol/<pool>/credstore)',
      })
      .option('tpm2-device', {
        type: 'string',
        hidden: true,
        describe: 'systemd-cryptenroll --tpm2-device (default auto)',
      })
      .option('dry-run', {
        type: 'boolean',
        default: false,
        describe: 'read the host and say what enroll would do; change nothing',
      })
      .option('json', { type: 'boolean', default: false, describe: 'with --dry-run: as JSON' })
      .example('$0 enroll web1', 'after the first boot of web1')
      .example('$0 enroll web1 --dry-run', 'what it would do, from the host as it is') as never,
  handler: async (args) => {
    const { runEnroll } = await import('../deploy/run-enroll.js')
    await runEnroll({
      host: args.host,
      dryRun: args['dry-run'],
      json: args.json,
      ...(args.fleet !== undefined && { fleet: args.fleet }),
      ...(args['ssh-key'] !== undefined && { sshKey: args['ssh-key'] }),
      ...identityFrom(args),
      ...(args['credstore-device'] !== undefined && { credstoreDevice: args['credstore-device'] }),
      ...(args['tpm2-device'] !== undefined && { tpm2Device: args['tpm2-device'] }),
    })
  },
}
