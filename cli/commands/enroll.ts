import type { CommandModule } from 'yargs'
import { fleetOption } from './fleet-option.js'

// `keystone enroll <host>`: Secure Boot keys and the TPM, after the first boot.
interface EnrollArgs {
  host: string
  fleet?: string
  'ssh-key'?: string
  identity?: string
  'passphrase-fd'?: number
  'credstore-device'?: string
  'tpm2-device'?: string
}

export const enroll: CommandModule<object, EnrollArgs> = {
  command: 'enroll <host>',
  describe: 'Enroll Secure Boot keys and bind the credstore to the TPM (recovery key into the vault)',
  builder: (y) =>
    y
      .positional('host', { type: 'string', demandOption: true, describe: 'host name from hosts/' })
      .option('fleet', fleetOption)
      .option('ssh-key', { type: 'string', describe: 'private key to log in with (default: your ssh-agent)' })
      .option('identity', { type: 'string', describe: 'a plain age identity file instead of your passphrase-locked one' })
      .option('passphrase-fd', { type: 'number', describe: 'read the identity passphrase from this file descriptor' })
      .option('credstore-device', { type: 'string', hidden: true, describe: 'the credstore (default /dev/zvol/<pool>/credstore)' })
      .option('tpm2-device', { type: 'string', hidden: true, describe: 'systemd-cryptenroll --tpm2-device (default auto)' })
      .example('$0 enroll web1', 'after the first boot of web1') as never,
  handler: async (args) => {
    const { runEnroll } = await import('../deploy/run-enroll.js')
    await runEnroll({
      host: args.host,
      ...(args.fleet !== undefined && { fleet: args.fleet }),
      ...(args['ssh-key'] !== undefined && { sshKey: args['ssh-key'] }),
      ...(args.identity !== undefined && { identityFile: args.identity }),
      ...(args['passphrase-fd'] !== undefined && { passphraseFd: args['passphrase-fd'] }),
      ...(args['credstore-device'] !== undefined && { credstoreDevice: args['credstore-device'] }),
      ...(args['tpm2-device'] !== undefined && { tpm2Device: args['tpm2-device'] }),
    })
  },
}
