import type { Argv, CommandModule } from 'yargs'
import { UsageError } from '../errors.js'

// `keystone agent …`: the sync agent on one device — encrypted, deduplicated, versioned backup of
// directories to a folder or an S3 bucket. Handlers load lazily (cli/agent/run-agent.ts).
// Over 300 lines: the options and help of every agent verb, which share most of them, in one place.
interface Common {
  'agent-dir'?: string
}

const load = () => import('../agent/run-agent.js')
const common = (y: Argv) =>
  y.option('agent-dir', {
    type: 'string',
    describe:
      'the agent directory (default: $KEYSTONE_AGENT_DIR, else ~/.local/state/keystone/agent)',
  })
const dirOf = (args: Common) =>
  args['agent-dir'] === undefined ? {} : { agentDir: args['agent-dir'] }

// "90", "90s", "15m", "6h", "1d" → seconds.
export function parseDuration(text: string): number {
  const m = /^(\d+)\s*([smhd]?)$/.exec(text.trim())
  if (m === null)
    throw new UsageError(`"${text}" is not a duration`, 'write e.g. 30s, 15m, 1h or 1d')
  return (
    Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd']
  )
}

const init: CommandModule<
  object,
  Common & {
    store: string
    endpoint?: string
    region?: string
    'path-style'?: boolean
    's3-credentials'?: string
    label?: string
    compression: boolean
    'recovery-key-file'?: string
    'device-key-file'?: string
    'write-recovery-key'?: string
  }
> = {
  command: 'init <store>',
  describe: 'Create a repository (prints its recovery key once) or join one with the recovery key',
  builder: (y) =>
    common(y)
      .positional('store', {
        type: 'string',
        demandOption: true,
        describe: 'file:///path or s3://bucket/prefix',
      })
      .option('endpoint', {
        type: 'string',
        describe: 'S3 endpoint URL (MinIO, SeaweedFS, Garage); AWS when absent',
      })
      .option('region', { type: 'string', describe: 'S3 region (default us-east-1)' })
      .option('path-style', {
        type: 'boolean',
        describe: 'path-style S3 URLs (default: on with --endpoint)',
      })
      .option('s3-credentials', {
        type: 'string',
        describe:
          'file with AWS_ACCESS_KEY_ID=… and AWS_SECRET_ACCESS_KEY=… (default: the systemd credential s3-credentials, then the environment)',
      })
      .option('label', {
        type: 'string',
        describe: 'this device in snapshots and key lists (default: the host name)',
      })
      .option('compression', {
        type: 'boolean',
        default: true,
        describe: 'compress chunks that compress',
      })
      .option('recovery-key-file', {
        type: 'string',
        describe: 'join the repository already in the store with this recovery key',
      })
      .option('device-key-file', {
        type: 'string',
        describe:
          "join with this device's own age key, which an admin added (`keystone agent keys add`); it stays where it is",
        conflicts: 'recovery-key-file',
      })
      .option('write-recovery-key', {
        type: 'string',
        describe: 'without a terminal: write the new recovery key to this new file',
      })
      .example('$0 agent init file:///mnt/backup', 'a repository on an external disk')
      .example(
        '$0 agent init s3://backups/web1 --endpoint http://127.0.0.1:9000 --s3-credentials ~/.s3',
        'on MinIO',
      ) as never,
  handler: async (args) => {
    const { runInit } = await load()
    await runInit({
      ...dirOf(args),
      store: args.store,
      compression: args.compression,
      ...(args.endpoint !== undefined && { endpoint: args.endpoint }),
      ...(args.region !== undefined && { region: args.region }),
      ...(args['path-style'] !== undefined && { pathStyle: args['path-style'] }),
      ...(args['s3-credentials'] !== undefined && { credentialsFile: args['s3-credentials'] }),
      ...(args.label !== undefined && { label: args.label }),
      ...(args['recovery-key-file'] !== undefined && {
        recoveryKeyFile: args['recovery-key-file'],
      }),
      ...(args['write-recovery-key'] !== undefined && {
        writeRecoveryKey: args['write-recovery-key'],
      }),
      ...(args['device-key-file'] !== undefined && { deviceKeyFile: args['device-key-file'] }),
    })
  },
}

const backup: CommandModule<object, Common & { paths: string[]; json: boolean }> = {
  command: 'backup <paths..>',
  describe:
    'One backup pass of these directories, then exit (75 if the store was unreachable and the snapshot is queued)',
  builder: (y) =>
    common(y)
      .positional('paths', { type: 'string', array: true, demandOption: true })
      .option('json', { type: 'boolean', default: false }) as never,
  handler: async (args) => {
    const { runBackup } = await load()
    await runBackup({ ...dirOf(args), paths: args.paths, json: args.json })
  },
}

interface HeartbeatOptions {
  'signing-key'?: string
  pcr: number[]
}
const heartbeatOptions = (y: Argv) =>
  y
    .option('signing-key', {
      type: 'string',
      describe:
        'Ed25519 key (PKCS#8 PEM) to sign heartbeats with (default: the systemd credential agent-signing-key, else signing.key in the agent directory, made on first use)',
    })
    .option('pcr', {
      type: 'number',
      array: true,
      default: [1, 7],
      describe: 'PCRs to report (those the credstore is bound to)',
    })

const run: CommandModule<
  object,
  Common &
    HeartbeatOptions & {
      paths: string[]
      interval: string
      'retry-cap': string
      heartbeat: boolean
      'two-way': string[]
      watch: boolean
      debounce: string
      metrics?: string
    }
> = {
  command: 'run [paths..]',
  describe: 'The daemon: a backup pass every interval; while the store is down, retry with backoff',
  builder: (y) =>
    heartbeatOptions(common(y))
      .positional('paths', { type: 'string', array: true, default: [] })
      .option('interval', { type: 'string', default: '1h', describe: 'time between passes' })
      .option('retry-cap', {
        type: 'string',
        default: '5m',
        describe: 'longest wait between upload attempts',
      })
      .option('two-way', {
        type: 'string',
        array: true,
        default: [],
        describe:
          'a folder to keep in two-way sync with the other devices (repeatable; path, or path=name when devices keep it at different paths)',
      })
      .option('watch', {
        type: 'boolean',
        default: false,
        describe: 'also start a pass soon after files change (the scan every interval still runs)',
      })
      .option('debounce', {
        type: 'string',
        default: '2s',
        describe: 'with --watch: how long changes must be quiet before a pass',
      })
      .option('metrics', {
        type: 'string',
        describe: 'serve Prometheus metrics and /healthz on this loopback address, e.g. 127.0.0.1:9464',
      })
      .option('heartbeat', {
        type: 'boolean',
        default: false,
        describe:
          'publish a signed heartbeat into the store after each pass (keystone fleet status reads them)',
      }) as never,
  handler: async (args) => {
    const { runDaemonCommand } = await load()
    if (args.paths.length === 0 && args['two-way'].length === 0)
      throw new UsageError('name a path to back up or a --two-way folder', 'e.g. keystone agent run ~/Documents --two-way ~/Shared')
    await runDaemonCommand({
      twoWay: args['two-way'].map((spec) => {
        const at = spec.lastIndexOf('=')
        return at === -1 ? { path: spec } : { path: spec.slice(0, at), folder: spec.slice(at + 1) }
      }),
      ...dirOf(args),
      paths: args.paths,
      intervalSeconds: parseDuration(args.interval),
      retryCapSeconds: parseDuration(args['retry-cap']),
      heartbeat: args.heartbeat,
      watch: args.watch,
      debounceSeconds: parseDuration(args.debounce),
      ...(args.metrics !== undefined && { metrics: args.metrics }),
      pcrs: args.pcr,
      ...(args['signing-key'] !== undefined && { signingKey: args['signing-key'] }),
    })
  },
}

const sync: CommandModule<
  object,
  Common & { path: string; folder?: string; settle: string; json: boolean }
> = {
  command: 'sync <path>',
  describe: 'One round of two-way sync of a folder with the other devices (merge, apply, publish)',
  builder: (y) =>
    common(y)
      .positional('path', { type: 'string', demandOption: true })
      .option('folder', {
        type: 'string',
        describe: 'the name the devices share for this folder (default: its path)',
      })
      .option('settle', {
        type: 'string',
        default: '2s',
        describe: 'files modified this recently are left for the next round',
      })
      .option('json', { type: 'boolean', default: false }) as never,
  handler: async (args) => {
    const { runSync } = await load()
    await runSync({
      ...dirOf(args),
      path: args.path,
      settleSeconds: parseDuration(args.settle),
      json: args.json,
      ...(args.folder !== undefined && { folder: args.folder }),
    })
  },
}

const heartbeat: CommandModule<
  object,
  Common & HeartbeatOptions & { paths: string[]; interval: string }
> = {
  command: 'heartbeat [paths..]',
  describe: 'Publish one signed heartbeat of this host into the store now',
  builder: (y) =>
    heartbeatOptions(common(y))
      .positional('paths', {
        type: 'string',
        array: true,
        default: [],
        describe: 'synced paths (free space is read on the first)',
      })
      .option('interval', {
        type: 'string',
        default: '1h',
        describe: 'when the next heartbeat is due',
      }) as never,
  handler: async (args) => {
    const { runHeartbeat } = await load()
    await runHeartbeat({
      ...dirOf(args),
      paths: args.paths,
      intervalSeconds: parseDuration(args.interval),
      pcrs: args.pcr,
      ...(args['signing-key'] !== undefined && { signingKey: args['signing-key'] }),
    })
  },
}

const status: CommandModule<object, Common & { json: boolean; check: boolean; 'max-age': string }> = {
  command: 'status',
  describe: 'Online or offline, what is queued, the last backup, the daemon',
  builder: (y) =>
    common(y)
      .option('json', { type: 'boolean', default: false })
      .option('check', {
        type: 'boolean',
        default: false,
        describe: 'health check: exit 0 only while the daemon reported within --max-age',
      })
      .option('max-age', { type: 'string', default: '3m', describe: 'with --check' }) as never,
  handler: async (args) => {
    const { runHealthCheck, runStatus } = await load()
    if (args.check) return runHealthCheck({ ...dirOf(args), maxAgeSeconds: parseDuration(args['max-age']) })
    await runStatus({ ...dirOf(args), json: args.json })
  },
}

const snapshots: CommandModule<object, Common & { json: boolean }> = {
  command: 'snapshots',
  describe: 'List the snapshots in the repository',
  builder: (y) => common(y).option('json', { type: 'boolean', default: false }) as never,
  handler: async (args) => {
    const { runSnapshots } = await load()
    await runSnapshots({ ...dirOf(args), json: args.json })
  },
}

const restore: CommandModule<
  object,
  Common & {
    snapshot: string
    path?: string
    target: string
    overwrite: boolean
    'keep-partial': boolean
  }
> = {
  command: 'restore <snapshot> [path]',
  describe: 'Restore a snapshot (`latest` or an id), or one path of it, under a target directory',
  builder: (y) =>
    common(y)
      .positional('snapshot', {
        type: 'string',
        demandOption: true,
        describe: '`latest` or a snapshot id',
      })
      .positional('path', {
        type: 'string',
        describe: 'only this file or directory of the snapshot',
      })
      .option('target', {
        type: 'string',
        demandOption: true,
        describe: 'where to restore (empty or new)',
      })
      .option('overwrite', {
        type: 'boolean',
        default: false,
        describe: 'restore into a non-empty target',
      })
      .option('keep-partial', {
        type: 'boolean',
        default: false,
        describe: 'keep what can be read of a file whose data is damaged, as <name>.partial',
      })
      .example('$0 agent restore latest --target /tmp/r', 'everything, under /tmp/r') as never,
  handler: async (args) => {
    const { runRestore } = await load()
    await runRestore({
      ...dirOf(args),
      snapshot: args.snapshot,
      target: args.target,
      overwrite: args.overwrite,
      keepPartial: args['keep-partial'],
      ...(args.path !== undefined && { path: args.path }),
    })
  },
}

const verify: CommandModule<object, Common & { 'read-data': boolean }> = {
  command: 'verify',
  describe: 'Check the repository; exit 3 naming every damaged object',
  builder: (y) =>
    common(y).option('read-data', {
      type: 'boolean',
      default: false,
      describe: 'also download and check every pack',
    }) as never,
  handler: async (args) => {
    const { runVerify } = await load()
    await runVerify({ ...dirOf(args), readData: args['read-data'] })
  },
}

const prune: CommandModule<
  object,
  Common & {
    'keep-last'?: number
    'keep-hourly'?: number
    'keep-daily'?: number
    'keep-weekly'?: number
    'keep-monthly'?: number
    'dry-run': boolean
  }
> = {
  command: 'prune',
  describe:
    'Forget snapshots a retention policy does not keep and delete the data only they needed',
  builder: (y) =>
    common(y)
      .option('keep-last', { type: 'number', describe: 'the N newest snapshots' })
      .option('keep-hourly', { type: 'number', describe: 'the newest of each of the last N hours' })
      .option('keep-daily', { type: 'number', describe: 'the newest of each of the last N days' })
      .option('keep-weekly', { type: 'number', describe: 'the newest of each of the last N weeks' })
      .option('keep-monthly', {
        type: 'number',
        describe: 'the newest of each of the last N months',
      })
      .option('dry-run', {
        type: 'boolean',
        default: false,
        describe: 'say what would go, change nothing',
      }) as never,
  handler: async (args) => {
    const { runPrune } = await load()
    const policy = {
      ...(args['keep-last'] !== undefined && { last: args['keep-last'] }),
      ...(args['keep-hourly'] !== undefined && { hourly: args['keep-hourly'] }),
      ...(args['keep-daily'] !== undefined && { daily: args['keep-daily'] }),
      ...(args['keep-weekly'] !== undefined && { weekly: args['keep-weekly'] }),
      ...(args['keep-monthly'] !== undefined && { monthly: args['keep-monthly'] }),
    }
    await runPrune({ ...dirOf(args), policy, dryRun: args['dry-run'] })
  },
}

const keys: CommandModule<
  object,
  Common & { action: string; arg?: string; label?: string; json: boolean }
> = {
  command: 'keys [action] [arg]',
  describe:
    'List the keys (and the recovery fingerprint); `add <age recipient>` or `remove <fingerprint>` a device key',
  builder: (y) =>
    common(y)
      .positional('action', { choices: ['list', 'add', 'remove'], default: 'list' })
      .positional('arg', {
        type: 'string',
        describe: 'add: an age recipient (age1…); remove: a key fingerprint',
      })
      .option('label', { type: 'string', describe: 'add: the device it belongs to' })
      .option('json', { type: 'boolean', default: false }) as never,
  handler: async (args) => {
    if (args.action !== 'list' && args.arg === undefined)
      throw new UsageError(
        `keys ${args.action} needs ${args.action === 'add' ? 'an age recipient' : 'a key fingerprint'}`,
      )
    const { runKeys } = await load()
    await runKeys({
      ...dirOf(args),
      action: args.action as 'list' | 'add' | 'remove',
      json: args.json,
      ...(args.action === 'add' && { recipient: args.arg }),
      ...(args.action === 'remove' && { id: args.arg }),
      ...(args.label !== undefined && { label: args.label }),
    })
  },
}

export const agent: CommandModule = {
  command: 'agent <command>',
  describe: 'The sync agent: encrypted, deduplicated, versioned backup to a folder or S3',
  builder: (y) =>
    y
      .command(init)
      .command(backup)
      .command(run)
      .command(status)
      .command(snapshots)
      .command(restore)
      .command(verify)
      .command(prune)
      .command(keys)
      .command(sync)
      .command(heartbeat)
      .demandCommand(1, 'name an agent command; see `keystone agent --help`'),
  handler: () => undefined,
}
