import type { Argv, CommandModule } from 'yargs'
import { fleetOption } from './fleet-option.js'
import { identityFrom, identityOptions, type IdentityArgs } from './identity-options.js'

// `keystone plan <host>` and `keystone deploy <host>`: install a host from nothing over SSH.
// The handler loads lazily, so that `keystone --help` never loads ssh2.
interface DeployArgs extends IdentityArgs {
  host: string
  fleet?: string
  'ssh-key'?: string
  'accept-host-key'?: string
  'probe-root'?: string
  'dry-run'?: boolean
  yes?: boolean
  'boot-timeout'?: number
}

export const targetOptions = (y: Argv) =>
  y
    .positional('host', { type: 'string', demandOption: true, describe: 'host name from hosts/' })
    .option('fleet', fleetOption)
    .option('ssh-key', {
      type: 'string',
      describe: 'private key to log in with (default: your ssh-agent)',
    })
    .option('accept-host-key', {
      type: 'string',
      describe: 'trust this host key fingerprint (SHA256:…) once, after checking it on the console',
    })
    .option('probe-root', {
      type: 'string',
      hidden: true,
      describe: 'read the target through this root prefix',
    })

const deployOptions = (args: DeployArgs, dryRun: boolean) => ({
  host: args.host,
  dryRun,
  yes: args.yes === true,
  ...(args.fleet !== undefined && { fleet: args.fleet }),
  ...(args['ssh-key'] !== undefined && { sshKey: args['ssh-key'] }),
  ...(args['accept-host-key'] !== undefined && { acceptHostKey: args['accept-host-key'] }),
  ...(args['probe-root'] !== undefined && { probeRoot: args['probe-root'] }),
  ...identityFrom(args),
  ...(args['boot-timeout'] !== undefined && { bootTimeoutMs: args['boot-timeout'] * 1000 }),
})

export const plan: CommandModule<object, DeployArgs> = {
  command: 'plan <host>',
  describe: 'Show what `deploy` would do: the machine, the disks it wipes, phases, files, secrets',
  builder: (y) =>
    targetOptions(y).example(
      '$0 plan web1',
      'read-only: probe web1 over SSH and print the plan',
    ) as never,
  handler: async (args) => {
    const { runDeploy } = await import('../deploy/run-deploy.js')
    await runDeploy(deployOptions(args, true))
  },
}

export const deploy: CommandModule<object, DeployArgs> = {
  command: 'deploy <host>',
  describe: 'Install a host from nothing over SSH (wipes its disks after you confirm)',
  builder: (y) =>
    identityOptions(targetOptions(y))
      .option('dry-run', {
        type: 'boolean',
        default: false,
        describe: 'print the plan and stop (same as `keystone plan`)',
      })
      .option('yes', {
        type: 'boolean',
        default: false,
        describe: 'do not ask for the host name before wiping (automation)',
      })
      .option('boot-timeout', {
        type: 'number',
        describe: 'seconds to wait for the host after the reboot (default 600)',
      })
      .example('$0 deploy web1', 'probe, show the plan, ask for the host name, install')
      .example(
        '$0 deploy web1 --accept-host-key SHA256:…',
        'first contact with a machine whose key is not pinned yet',
      ) as never,
  handler: async (args) => {
    const { runDeploy } = await import('../deploy/run-deploy.js')
    await runDeploy(deployOptions(args, args['dry-run'] === true))
  },
}
