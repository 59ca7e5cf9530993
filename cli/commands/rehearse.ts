import type { CommandModule } from 'yargs'

// `keystone rehearse up|down`: the rehearsal machine — QEMU with OVMF Secure Boot firmware in
// setup mode, swtpm as its TPM 2.0 and blank virtio disks — to run plan and enroll against
// before real hardware. The handlers load lazily, so that `keystone --help` never loads execa.
interface UpArgs {
  dir?: string
  disks: number
  'disk-size': string
  memory: number
  'ssh-port'?: number
  'authorized-key'?: string
  boot: 'installer' | 'disks'
  timeout: number
}

const dirOption = {
  type: 'string',
  describe: 'the machine directory (default ~/.cache/keystone/rehearsal/machines/default)',
} as const

const up: CommandModule<object, UpArgs> = {
  command: 'up',
  describe: 'Boot the rehearsal machine and print how to reach it',
  builder: (y) =>
    y
      .option('dir', dirOption)
      .option('disks', { type: 'number', default: 1, describe: 'blank disks for a new machine' })
      .option('disk-size', {
        type: 'string',
        default: '16G',
        describe: 'size of each disk (sparse)',
      })
      .option('memory', {
        type: 'number',
        default: 3072,
        describe: 'MiB of memory for a new machine',
      })
      .option('ssh-port', {
        type: 'number',
        describe: 'loopback port of its sshd (default: a free one)',
      })
      .option('authorized-key', {
        type: 'string',
        describe: 'public key allowed to log in as root (default: ~/.ssh/id_ed25519.pub)',
      })
      .option('boot', {
        choices: ['installer', 'disks'] as const,
        default: 'installer' as const,
        describe:
          'installer: the rehearsal system, as nixos-anywhere boots its installer; disks: what was installed on the disks',
      })
      .option('timeout', { type: 'number', default: 300, describe: 'seconds to wait for its sshd' })
      .example('$0 rehearse up --disks 2', 'a machine with two blank disks, for a mirror') as never,
  handler: async (args) => {
    const { rehearseUp } = await import('../rehearsal/run-rehearse.js')
    await rehearseUp({
      ...(args.dir !== undefined && { dir: args.dir }),
      disks: args.disks,
      diskSize: args['disk-size'],
      memoryMiB: args.memory,
      ...(args['ssh-port'] !== undefined && { sshPort: args['ssh-port'] }),
      ...(args['authorized-key'] !== undefined && { authorizedKeysFile: args['authorized-key'] }),
      boot: args.boot,
      timeoutMs: args.timeout * 1000,
    })
  },
}

const down: CommandModule<object, { dir?: string; discard: boolean }> = {
  command: 'down',
  describe: 'Stop the rehearsal machine (QEMU and swtpm)',
  builder: (y) =>
    y.option('dir', dirOption).option('discard', {
      type: 'boolean',
      default: false,
      describe: 'also delete its disks, firmware variables and TPM state',
    }) as never,
  handler: async (args) => {
    const { rehearseDown } = await import('../rehearsal/run-rehearse.js')
    await rehearseDown({ ...(args.dir !== undefined && { dir: args.dir }), discard: args.discard })
  },
}

export const rehearse: CommandModule = {
  command: 'rehearse <command>',
  describe: 'A local machine with UEFI Secure Boot, a TPM and blank disks, to rehearse on',
  builder: (y) => y.command(up).command(down).demandCommand(1, 'name a rehearse command: up, down'),
  handler: () => undefined,
}
