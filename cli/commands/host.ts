import type { Argv, CommandModule } from 'yargs'
import { fleetOption } from './fleet-option.js'

interface HostNewArgs {
  name: string
  system?: 'x86_64-linux' | 'aarch64-linux'
  role?: 'server' | 'workstation'
  address?: string
  port?: number
  user?: string
  admin?: string
  'ssh-key'?: string[]
  'ssh-key-file'?: string[]
  disk?: string[]
  swap?: string
  'host-id'?: string
  'secure-boot': boolean
  tpm: boolean
  fleet?: string
}

const hostNew: CommandModule<object, HostNewArgs> = {
  command: 'new <name>',
  describe: 'Write a new, commented host file (asks for what is missing on a terminal)',
  builder: (y) =>
    y
      .positional('name', { type: 'string', demandOption: true, describe: 'host name, e.g. web2' })
      .option('system', { choices: ['x86_64-linux', 'aarch64-linux'] as const, describe: 'architecture (default x86_64-linux)' })
      .option('role', { choices: ['server', 'workstation'] as const, describe: 'what the host is for (default server)' })
      .option('address', { type: 'string', describe: 'SSH address of the machine' })
      .option('port', { type: 'number', describe: 'SSH port (default 22)' })
      .option('user', { type: 'string', describe: 'SSH user (default root)' })
      .option('admin', { type: 'string', describe: 'your login name on the host' })
      .option('ssh-key', { type: 'string', array: true, describe: 'an SSH public key line (repeatable)' })
      .option('ssh-key-file', { type: 'string', array: true, describe: 'an SSH .pub file (repeatable)' })
      .option('disk', { type: 'string', array: true, describe: '/dev/disk/by-id/… to erase (twice for a mirror)' })
      .option('swap', { type: 'string', describe: 'swap size, e.g. 8G, or 0 (default 8G)' })
      .option('host-id', { type: 'string', describe: '8 hex digits (default: random)' })
      .option('secure-boot', { type: 'boolean', default: true, describe: 'Lanzaboote Secure Boot (--no-secure-boot to disable)' })
      .option('tpm', { type: 'boolean', default: true, describe: 'TPM unlock (--no-tpm to disable)' })
      .option('fleet', fleetOption)
      .example(
        '$0 host new web2 --address 192.0.2.20 --admin alice --ssh-key-file ~/.ssh/id_ed25519.pub --disk /dev/disk/by-id/nvme-…',
        'a server, without questions',
      ) as never,
  handler: async (args) => {
    const { runHostNew } = await import('../host/run-host-new.js')
    await runHostNew({
      name: args.name,
      ...(args.system && { system: args.system }),
      ...(args.role && { role: args.role }),
      ...(args.address !== undefined && { address: args.address }),
      ...(args.port !== undefined && { port: args.port }),
      ...(args.user !== undefined && { user: args.user }),
      ...(args.admin !== undefined && { admin: args.admin }),
      ...(args['ssh-key'] !== undefined && { sshKey: args['ssh-key'] }),
      ...(args['ssh-key-file'] !== undefined && { sshKeyFile: args['ssh-key-file'] }),
      ...(args.disk !== undefined && { disk: args.disk }),
      ...(args.swap !== undefined && { swap: args.swap }),
      ...(args['host-id'] !== undefined && { hostId: args['host-id'] }),
      secureBoot: args['secure-boot'],
      tpm: args.tpm,
      ...(args.fleet !== undefined && { fleet: args.fleet }),
    })
  },
}

interface HostListArgs {
  json: boolean
  fleet?: string
}

const hostList: CommandModule<object, HostListArgs> = {
  command: 'list',
  describe: 'Show the fleet as a table',
  builder: (y) =>
    y
      .option('json', { type: 'boolean', default: false, describe: 'print the hosts as JSON' })
      .option('fleet', fleetOption) as never,
  handler: async (args) => {
    const { runHostList } = await import('../host/run-host-list.js')
    await runHostList({ json: args.json, ...(args.fleet === undefined ? {} : { fleet: args.fleet }) })
  },
}

export const host: CommandModule = {
  command: 'host <command>',
  describe: 'Create a host file (host new <name>) or list the fleet (host list)',
  builder: (y: Argv) => y.command(hostNew).command(hostList).demandCommand(1),
  handler: () => {},
}
