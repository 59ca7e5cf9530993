import type { Argv, CommandModule } from 'yargs'
import { SECRET_KINDS } from '../vault/secret-kinds.js'
import { fleetOption } from './fleet-option.js'
import { identityFrom, identityOptions, type IdentityArgs } from './identity-options.js'

// `keystone secrets …`: the age-encrypted vault in secrets/. Handlers load lazily, so that
// `keystone --help` never loads age.
interface VaultArgs extends IdentityArgs {
  fleet?: string
}

const vaultOptions = (y: Argv) => identityOptions(y.option('fleet', fleetOption))

const identityOf = (args: VaultArgs) => ({
  ...(args.fleet !== undefined && { fleet: args.fleet }),
  ...identityFrom(args),
})

const load = () => import('../vault/run-secrets.js')

const init: CommandModule<object, VaultArgs & { admin: string; 'scrypt-work-factor'?: number }> = {
  command: 'init',
  describe:
    'Create your identity (~/.config/keystone/identity.age) and list you in secrets/recipients.yaml',
  builder: (y) =>
    vaultOptions(y)
      .option('admin', {
        type: 'string',
        demandOption: true,
        describe: 'your admin name, as in the host files',
      })
      .option('scrypt-work-factor', {
        type: 'number',
        hidden: true,
        describe: 'log2 of the scrypt cost (default 18)',
      }) as never,
  handler: async (args) => {
    const { runSecretsInit } = await load()
    await runSecretsInit({
      ...identityOf(args),
      admin: args.admin,
      ...(args['scrypt-work-factor'] !== undefined && { scryptLogN: args['scrypt-work-factor'] }),
    })
  },
}

const set: CommandModule<object, VaultArgs & { secret: string; kind: string }> = {
  command: 'set <secret>',
  describe:
    'Store a secret: the value from a hidden prompt (asked twice) or standard input, never argv',
  builder: (y) =>
    vaultOptions(y)
      .positional('secret', {
        type: 'string',
        demandOption: true,
        describe: '<scope>/<name>: fleet/… or <host>/…',
      })
      .option('kind', {
        choices: SECRET_KINDS,
        default: 'other',
        describe: 'what the value is',
      })
      .example(
        'printf %s "$KEY" | $0 secrets set fleet/s3-backup --kind s3-credentials',
        'from a script',
      ) as never,
  handler: async (args) => {
    const { runSecretsSet } = await load()
    await runSecretsSet({ ...identityOf(args), ref: args.secret, kind: args.kind as never })
  },
}

const get: CommandModule<object, VaultArgs & { secret: string; reveal: boolean }> = {
  command: 'get <secret>',
  describe: 'Decrypt a secret to standard output (refused on a terminal without --reveal)',
  builder: (y) =>
    vaultOptions(y).positional('secret', { type: 'string', demandOption: true }).option('reveal', {
      type: 'boolean',
      default: false,
      describe: 'print even to a terminal',
    }) as never,
  handler: async (args) => {
    const { runSecretsGet } = await load()
    await runSecretsGet({ ...identityOf(args), ref: args.secret, reveal: args.reveal })
  },
}

const list: CommandModule<object, VaultArgs & { json: boolean }> = {
  command: 'list',
  describe: 'List secrets: kind, age and who can read each, without decrypting',
  builder: (y) => vaultOptions(y).option('json', { type: 'boolean', default: false }) as never,
  handler: async (args) => {
    const { runSecretsList } = await load()
    await runSecretsList({ ...identityOf(args), json: args.json })
  },
}

const rm: CommandModule<object, VaultArgs & { secret: string }> = {
  command: 'rm <secret>',
  describe: 'Delete a secret from the vault',
  builder: (y) =>
    vaultOptions(y).positional('secret', { type: 'string', demandOption: true }) as never,
  handler: async (args) => {
    const { runSecretsRm } = await load()
    await runSecretsRm({ ...identityOf(args), ref: args.secret })
  },
}

// --dry-run and --json of the commands that change the vault.
interface DryRunArgs {
  'dry-run': boolean
  json: boolean
}
const dryRunOptions = (y: Argv) =>
  y
    .option('dry-run', {
      type: 'boolean',
      default: false,
      describe: 'say what would change; change nothing',
    })
    .option('json', { type: 'boolean', default: false, describe: 'with --dry-run: as JSON' })
const dryRunOf = (args: DryRunArgs) => ({ dryRun: args['dry-run'], json: args.json })

const rotate: CommandModule<object, VaultArgs & DryRunArgs & { secret: string }> = {
  command: 'rotate <secret>',
  describe:
    'Replace a secret with a new random value of its kind; the old one is kept until the next deploy',
  builder: (y) =>
    dryRunOptions(vaultOptions(y)).positional('secret', {
      type: 'string',
      demandOption: true,
    }) as never,
  handler: async (args) => {
    const { runSecretsRotate } = await import('../vault/run-secrets-change.js')
    await runSecretsRotate({ ...identityOf(args), ref: args.secret, ...dryRunOf(args) })
  },
}

const edit: CommandModule<object, VaultArgs & { secret: string }> = {
  command: 'edit <secret>',
  describe: 'Edit a secret in $EDITOR through a private in-memory file that is wiped afterwards',
  builder: (y) =>
    vaultOptions(y).positional('secret', { type: 'string', demandOption: true }) as never,
  handler: async (args) => {
    const { runSecretsEdit } = await import('../vault/run-secrets-change.js')
    await runSecretsEdit({ ...identityOf(args), ref: args.secret })
  },
}

const rekey: CommandModule<object, VaultArgs & DryRunArgs & { all: boolean }> = {
  command: 'rekey',
  describe: 'Re-encrypt secrets to the current recipients; report those you cannot read',
  builder: (y) =>
    dryRunOptions(vaultOptions(y)).option('all', {
      type: 'boolean',
      default: false,
      describe: 'every secret, not only changed ones',
    }) as never,
  handler: async (args) => {
    const { runSecretsRekey } = await load()
    await runSecretsRekey({ ...identityOf(args), all: args.all, ...dryRunOf(args) })
  },
}

const recipients: CommandModule<
  object,
  VaultArgs & { action: string; key?: string; admin?: string; host?: string }
> = {
  command: 'recipients <action> [key]',
  describe: 'Add or remove an admin or host public key in secrets/recipients.yaml',
  builder: (y) =>
    vaultOptions(y)
      .positional('action', { choices: ['add', 'remove'] as const, demandOption: true })
      .positional('key', { type: 'string', describe: 'the age1… public key (add)' })
      .option('admin', { type: 'string', describe: 'an admin name' })
      .option('host', { type: 'string', describe: 'a host name' })
      .example(
        '$0 secrets recipients add --admin bob age1…',
        'then `keystone secrets rekey`',
      ) as never,
  handler: async (args) => {
    const { runSecretsRecipients } = await load()
    await runSecretsRecipients({
      ...identityOf(args),
      action: args.action as 'add' | 'remove',
      ...(args.key !== undefined && { key: args.key }),
      ...(args.admin !== undefined && { admin: args.admin }),
      ...(args.host !== undefined && { host: args.host }),
    })
  },
}

// What a killed Keystone left in memory (a decrypted copy, a deploy's keys) goes first, in one
// line each.
async function sweepStaleCopies(): Promise<void> {
  const { sweepStalePrivateDirs } = await import('../vault/private-file.js')
  const { runtimeDir } = await import('../config.js')
  for (const dir of await sweepStalePrivateDirs(runtimeDir()))
    process.stderr.write(
      `keystone: removed ${dir}, left in memory by a Keystone process that was killed before it could remove it\n`,
    )
}

export const secrets: CommandModule = {
  command: 'secrets <command>',
  describe:
    'The age-encrypted vault in secrets/: init, set, get, edit, list, rm, rotate, rekey, recipients',
  builder: (y) =>
    y
      .middleware(sweepStaleCopies)
      .command(init)
      .command(set)
      .command(get)
      .command(edit)
      .command(list)
      .command(rm)
      .command(rotate)
      .command(rekey)
      .command(recipients)
      .demandCommand(1, 'name a secrets command; see `keystone secrets --help`'),
  handler: () => {},
}
