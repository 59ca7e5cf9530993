import t from 'tap'
import yargs from 'yargs'
import { agentCommand, agentVerbs } from '../../cli/commands/agent/agent.js'
import { UsageError } from '../../cli/errors.js'
import { ExitCode } from '../../cli/exit-codes.js'

// `keystone agent …` as data: every verb and every flag, from a command line to the options its
// run receives. The dispatcher is the real one (cli/commands/agent/agent.ts) with yargs as
// `keystone` configures it; only the last step, running the verb, is replaced by a capture.
process.env.KEYSTONE_AGENT_DIR = '/var/lib/keystone-agent'
const home = '/var/lib/keystone-agent'

async function parse(argv: string[]): Promise<{ verb: string; options: unknown }> {
  let seen: { verb: string; options: unknown } | undefined
  await yargs(['agent', ...argv])
    .command(agentCommand((verb, options) => void (seen = { verb: verb.name, options })))
    .strict()
    .fail((message, error) => {
      throw error ?? new UsageError(message)
    })
    .exitProcess(false)
    .parseAsync()
  if (seen === undefined) throw new Error(`${argv.join(' ')}: no verb ran`)
  return seen
}

type Row = [argv: string, verb: string, options: Record<string, unknown>]
const rows: Row[] = [
  // init
  ['init file:///mnt/b', 'init', { agentDir: home, store: 'file:///mnt/b', compression: true }],
  [
    'init s3://b/web1 --agent-dir /a --endpoint https://127.0.0.1:9000 --region eu-1 --path-style --s3-credentials /c --s3-ca /ca.pem --label web1 --no-compression --write-recovery-key /r',
    'init',
    {
      agentDir: '/a',
      store: 's3://b/web1',
      compression: false,
      endpoint: 'https://127.0.0.1:9000',
      region: 'eu-1',
      pathStyle: true,
      credentialsFile: '/c',
      caFile: '/ca.pem',
      label: 'web1',
      writeRecoveryKey: '/r',
    },
  ],
  [
    'init s3://b/x --no-path-style --recovery-key-file /k',
    'init',
    {
      agentDir: home,
      store: 's3://b/x',
      compression: true,
      pathStyle: false,
      recoveryKeyFile: '/k',
    },
  ],
  [
    'init s3://b/x --device-key-file /d',
    'init',
    { agentDir: home, store: 's3://b/x', compression: true, deviceKeyFile: '/d' },
  ],
  // backup
  ['backup /srv', 'backup', { agentDir: home, paths: ['/srv'], json: false }],
  [
    'backup /srv /home --json --agent-dir /a',
    'backup',
    { agentDir: '/a', paths: ['/srv', '/home'], json: true },
  ],
  // run
  [
    'run /srv',
    'run',
    {
      agentDir: home,
      paths: ['/srv'],
      twoWay: [],
      intervalSeconds: 3600,
      retryCapSeconds: 300,
      heartbeat: false,
      watch: false,
      debounceSeconds: 2,
      pcrs: [1, 7],
    },
  ],
  [
    'run --agent-dir /a --two-way /s --two-way /home/me/Shared=shared --interval 15m --retry-cap 90 --watch --debounce 5s --metrics 127.0.0.1:9464 --heartbeat --signing-key /k --pcr 7',
    'run',
    {
      agentDir: '/a',
      paths: [],
      twoWay: [{ path: '/s' }, { path: '/home/me/Shared', folder: 'shared' }],
      intervalSeconds: 900,
      retryCapSeconds: 90,
      heartbeat: true,
      watch: true,
      debounceSeconds: 5,
      metrics: '127.0.0.1:9464',
      pcrs: [7],
      signingKey: '/k',
    },
  ],
  // status
  ['status', 'status', { agentDir: home, json: false }],
  ['status --json --agent-dir /a', 'status', { agentDir: '/a', json: true }],
  ['status --check', 'status', { agentDir: home, json: false, checkMaxAgeSeconds: 180 }],
  [
    'status --check --max-age 1d',
    'status',
    { agentDir: home, json: false, checkMaxAgeSeconds: 86400 },
  ],
  // snapshots
  ['snapshots', 'snapshots', { agentDir: home, json: false }],
  ['snapshots --json --agent-dir /a', 'snapshots', { agentDir: '/a', json: true }],
  // restore
  [
    'restore latest --target /r',
    'restore',
    { agentDir: home, snapshot: 'latest', target: '/r', overwrite: false, keepPartial: false },
  ],
  [
    'restore 0a1b2c3d etc/hosts --target /r --overwrite --keep-partial --agent-dir /a',
    'restore',
    {
      agentDir: '/a',
      snapshot: '0a1b2c3d',
      path: 'etc/hosts',
      target: '/r',
      overwrite: true,
      keepPartial: true,
    },
  ],
  // verify
  ['verify', 'verify', { agentDir: home, readData: false }],
  ['verify --read-data --agent-dir /a', 'verify', { agentDir: '/a', readData: true }],
  // prune
  ['prune --keep-last 3', 'prune', { agentDir: home, policy: { last: 3 }, dryRun: false }],
  [
    'prune --keep-hourly 24 --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --dry-run --agent-dir /a',
    'prune',
    { agentDir: '/a', policy: { hourly: 24, daily: 7, weekly: 4, monthly: 12 }, dryRun: true },
  ],
  // keys
  ['keys', 'keys', { action: 'list', agentDir: home, json: false }],
  ['keys list --json --agent-dir /a', 'keys', { action: 'list', agentDir: '/a', json: true }],
  [
    'keys add age1xyz',
    'keys',
    { action: 'add', agentDir: home, recipient: 'age1xyz', label: 'device' },
  ],
  [
    'keys add age1xyz --label laptop',
    'keys',
    { action: 'add', agentDir: home, recipient: 'age1xyz', label: 'laptop' },
  ],
  ['keys remove 1234abcd', 'keys', { action: 'remove', agentDir: home, fingerprint: '1234abcd' }],
  // sync
  ['sync /s', 'sync', { agentDir: home, path: '/s', settleSeconds: 2, json: false }],
  [
    'sync /s --folder shared --settle 0 --json --agent-dir /a',
    'sync',
    { agentDir: '/a', path: '/s', settleSeconds: 0, json: true, folder: 'shared' },
  ],
  // heartbeat
  ['heartbeat', 'heartbeat', { agentDir: home, paths: [], intervalSeconds: 3600, pcrs: [1, 7] }],
  [
    'heartbeat /srv --interval 6h --pcr 1 --pcr 7 --signing-key /k --agent-dir /a',
    'heartbeat',
    { agentDir: '/a', paths: ['/srv'], intervalSeconds: 21600, pcrs: [1, 7], signingKey: '/k' },
  ],
]

t.test('every command line becomes exactly these options', async (t) => {
  for (const [argv, verb, options] of rows)
    t.same(await parse(argv.split(' ')), { verb, options }, `agent ${argv}`)
})

// Usage errors: the one-line reason, exit code 2, and no verb runs.
const refused: [argv: string, reason: RegExp][] = [
  ['backup', /Not enough non-option arguments/],
  ['run', /name a path to back up or a --two-way folder/],
  ['run /srv --interval soon', /"soon" is not a duration/],
  ['sync /s --settle 5x', /"5x" is not a duration/],
  ['status --check --max-age never', /"never" is not a duration/],
  ['restore latest', /Missing required argument: target/],
  ['prune', /say what to keep/],
  ['prune --keep-last 0', /say what to keep/],
  ['keys add', /keys add needs an age recipient/],
  ['keys remove', /keys remove needs a key fingerprint/],
  ['keys rotate', /Invalid values/],
  ['init s3://b/x --recovery-key-file /k --device-key-file /d', /mutually exclusive/],
  ['verify --read-everything', /Unknown argument/],
]

t.test('a wrong command line is a usage error and runs nothing', async (t) => {
  for (const [argv, reason] of refused) {
    const error = await parse(argv.split(' ')).then(
      (seen) => new Error(`ran ${seen.verb}`),
      (e: unknown) => e,
    )
    t.type(error, UsageError, `agent ${argv}`)
    t.match((error as UsageError).message, reason, `agent ${argv}: ${String(error)}`)
    t.equal((error as UsageError).exitCode, ExitCode.usage)
  }
})

// The table above is the whole surface: a flag added to a verb without a row here fails.
t.test('every flag of every verb has a row', async (t) => {
  t.same(
    agentVerbs.map((verb) => verb.name),
    [
      'init',
      'backup',
      'run',
      'status',
      'snapshots',
      'restore',
      'verify',
      'prune',
      'keys',
      'sync',
      'heartbeat',
    ],
  )
  for (const verb of agentVerbs) {
    const positionals = [...verb.command.matchAll(/[<[]([a-z-]+)(?:\.\.)?[>\]]/g)].map((m) => m[1])
    // yargs' getOptions() (public, untyped) lists every option a builder declared.
    const declared = verb.builder(yargs([])) as unknown as {
      getOptions(): { key: Record<string, unknown> }
    }
    const flags = Object.keys(declared.getOptions().key).filter(
      (key) => !['help', 'version', ...positionals].includes(key),
    )
    t.ok(flags.length > 0, `${verb.name} has flags`)
    const used = rows
      .filter(([, name]) => name === verb.name)
      .flatMap(([argv]) => argv.split(' ').filter((word) => word.startsWith('--')))
    for (const flag of flags)
      t.ok(
        used.includes(`--${flag}`) || used.includes(`--no-${flag}`),
        `agent ${verb.name} --${flag} has a row`,
      )
  }
})
