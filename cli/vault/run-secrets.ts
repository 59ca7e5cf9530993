import { loadConfig } from '../config.js'
import { UserError, UsageError } from '../errors.js'
import { ExitCode } from '../exit-codes.js'
import { processOutput, type Output } from '../ui/output.js'
import { renderTable } from '../ui/table.js'
import { AGE_RECIPIENT, recipientOf } from './age.js'
import { createIdentity, unlockIdentity, type IdentityOptions } from './identity.js'
import { isTerminal, promptHidden, readStdin } from './read-input.js'
import {
  loadRecipients,
  readersOf,
  recipientsPath,
  saveRecipients,
  type Recipients,
} from './recipients.js'
import {
  checkScope,
  fingerprint,
  hasPrevious,
  listSecrets,
  parseRef,
  readMeta,
  readSecret,
  refText,
  removeSecret,
  writeSecret,
  type SecretKind,
  type SecretRef,
} from './store.js'
import { existsSync } from 'node:fs'

// The `keystone secrets` commands. Secret values travel only through memory: read from a hidden
// prompt or standard input, written only in encrypted form, printed only to a non-terminal
// standard output (or with --reveal).

export interface VaultOptions extends IdentityOptions {
  fleet?: string
  output?: Output
}

const rootOf = (options: VaultOptions) => loadConfig({ fleet: options.fleet }).fleetRoot

async function identityOf(options: VaultOptions) {
  const secret = await unlockIdentity(options)
  return { secret, recipient: await recipientOf(secret) }
}

export async function runSecretsInit(
  options: VaultOptions & { admin: string; scryptLogN?: number },
): Promise<void> {
  const out = options.output ?? processOutput
  const root = rootOf(options)
  const recipient = await createIdentity(options)
  const recipients: Recipients = existsSync(recipientsPath(root))
    ? loadRecipients(root)
    : { admins: {}, hosts: {} }
  const known = recipients.admins[options.admin]
  if (known !== undefined && known !== recipient) {
    throw new UserError(
      `secrets/recipients.yaml already lists admin ${options.admin} with another key`,
      {
        hint: `pick another name with --admin, or remove the old key: keystone secrets recipients remove --admin ${options.admin}`,
      },
    )
  }
  recipients.admins[options.admin] = recipient
  await saveRecipients(root, recipients)
  out.out(`your public key: ${recipient}`)
  out.out(`admin ${options.admin} is a recipient in secrets/recipients.yaml; commit it`)
}

async function readValue(): Promise<Buffer> {
  if (!isTerminal()) return readStdin()
  const first = await promptHidden('Secret value: ')
  if ((await promptHidden('Repeat the value: ')) !== first)
    throw new UserError('the two values differ', { hint: 'run the command again' })
  return Buffer.from(first, 'utf8')
}

export async function runSecretsSet(
  options: VaultOptions & { ref: string; kind: SecretKind },
): Promise<void> {
  const out = options.output ?? processOutput
  const root = rootOf(options)
  const ref = parseRef(options.ref)
  const recipients = loadRecipients(root)
  checkScope(root, recipients, ref.scope)
  const value = await readValue()
  if (value.length === 0)
    throw new UserError('the value is empty', {
      hint: 'pipe the value in, e.g. `printf %s "$value" | keystone secrets set …`',
    })
  const previous = readMeta(root, ref)
  const meta = await writeSecret(root, recipients, ref, value, {
    kind: options.kind,
    rotated: true,
  })
  value.fill(0)
  out.out(
    `${previous === undefined ? 'stored' : 'replaced'} ${refText(ref)} for ${meta.recipients.length} recipient${meta.recipients.length === 1 ? '' : 's'}`,
  )
}

export async function runSecretsGet(
  options: VaultOptions & { ref: string; reveal: boolean },
): Promise<void> {
  const root = rootOf(options)
  const ref = parseRef(options.ref)
  if (process.stdout.isTTY === true && !options.reveal) {
    throw new UsageError(
      `not printing ${refText(ref)} to a terminal`,
      'pipe it (`| wl-copy`, `> file`) or pass --reveal',
    )
  }
  const value = await readSecret(root, ref, await identityOf(options))
  process.stdout.write(value)
}

export async function runSecretsList(options: VaultOptions & { json: boolean }): Promise<void> {
  const out = options.output ?? processOutput
  const root = rootOf(options)
  const recipients = existsSync(recipientsPath(root))
    ? loadRecipients(root)
    : { admins: {}, hosts: {} }
  const byKey = new Map<string, string>()
  for (const [name, key] of Object.entries(readersOf(recipients, 'fleet'))) byKey.set(key, name)
  const now = Date.now()
  const rows = listSecrets(root).map((ref) => {
    const meta = readMeta(root, ref)
    const current = Object.values(readersOf(recipients, ref.scope))
    return {
      secret: refText(ref),
      scope: ref.scope,
      kind: meta?.kind ?? 'unknown',
      ageDays:
        meta === undefined ? null : Math.floor((now - Date.parse(meta.rotated)) / 86_400_000),
      readers: (meta?.recipients ?? []).map((key) => byKey.get(key) ?? key),
      needsRekey: meta === undefined || meta.fingerprint !== fingerprint(current),
      previousKept: hasPrevious(root, ref),
    }
  })
  if (options.json) {
    out.out(JSON.stringify(rows, null, 2))
    return
  }
  if (rows.length === 0) {
    out.out('no secrets yet; add one with `keystone secrets set <scope>/<name>`')
    return
  }
  out.out(
    renderTable(
      ['SECRET', 'KIND', 'AGE', 'READERS'],
      rows.map((row) => [
        row.secret,
        row.kind,
        row.ageDays === null ? '?' : `${row.ageDays}d`,
        row.readers.join(', ') +
          (row.needsRekey ? '  (recipients changed: run `keystone secrets rekey`)' : '') +
          (row.previousKept ? '  (previous value kept until the next deploy)' : ''),
      ]),
    ),
  )
}

export async function runSecretsRm(options: VaultOptions & { ref: string }): Promise<void> {
  const out = options.output ?? processOutput
  const ref = parseRef(options.ref)
  await removeSecret(rootOf(options), ref)
  out.out(
    `removed ${refText(ref)}; its old value stays in git history until that is rewritten: rotate it where it is used`,
  )
}

// Re-encrypts every secret whose recipients differ from the current ones (all with --all).
// Secrets this admin cannot read are listed and make the command fail, after the others are done.
// What a rekey would re-encrypt, from the metadata beside each .age file (no value is read):
// the secrets whose recipients are not the current readers of their scope (every secret with
// `all`), and the keys that could read a secret and no longer may, with what they could read.
export interface RekeyPlan {
  secrets: { secret: string; ref: SecretRef; kind: SecretKind; to: string[]; readable: boolean }[]
  dropped: { key: string; secrets: string[] }[]
}

export function planRekey(
  root: string,
  recipients: Recipients,
  options: { all: boolean; you: string },
): RekeyPlan {
  const secrets: RekeyPlan['secrets'] = []
  const dropped = new Map<string, string[]>()
  for (const ref of listSecrets(root)) {
    const meta = readMeta(root, ref)
    const readers = readersOf(recipients, ref.scope)
    const current = Object.values(readers)
    if (!options.all && meta !== undefined && meta.fingerprint === fingerprint(current)) continue
    for (const key of meta?.recipients ?? [])
      if (!current.includes(key)) dropped.set(key, [...(dropped.get(key) ?? []), refText(ref)])
    secrets.push({
      secret: refText(ref),
      ref,
      kind: meta?.kind ?? 'other',
      to: Object.keys(readers),
      // Without metadata only decrypting says; the rekey itself finds out.
      readable: meta === undefined || meta.recipients.includes(options.you),
    })
  }
  return { secrets, dropped: [...dropped].map(([key, refs]) => ({ key, secrets: refs })) }
}

export async function runSecretsRekey(
  options: VaultOptions & { all: boolean; dryRun?: boolean; json?: boolean },
): Promise<void> {
  const out = options.output ?? processOutput
  const root = rootOf(options)
  const recipients = loadRecipients(root)
  const identity = await identityOf(options)
  const plan = planRekey(root, recipients, { all: options.all, you: identity.recipient })
  if (options.dryRun === true) return showRekeyPlan(plan, options.json === true, out)
  const unreadable: string[] = []
  let rekeyed = 0
  for (const { ref, kind } of plan.secrets) {
    let value: Uint8Array
    try {
      value = await readSecret(root, ref, identity)
    } catch (error) {
      if (error instanceof UserError && error.exitCode === ExitCode.notRecipient) {
        unreadable.push(refText(ref))
        continue
      }
      throw error
    }
    await writeSecret(root, recipients, ref, value, { kind })
    value.fill(0)
    rekeyed++
    out.out(`rekeyed ${refText(ref)}`)
  }
  out.out(`${rekeyed} secret${rekeyed === 1 ? '' : 's'} rekeyed`)
  for (const { key, secrets } of plan.dropped) out.err(historyWarning(key, secrets))
  if (unreadable.length > 0) throw notYours(unreadable, 'could not be rekeyed')
}

// `secrets rekey --dry-run`: the plan, in words or (--json) as data; the same warnings and the
// same exit code as the rekey itself, and nothing written.
function showRekeyPlan(plan: RekeyPlan, json: boolean, out: Output): void {
  const unreadable = plan.secrets.filter((s) => !s.readable).map((s) => s.secret)
  if (json) {
    const secrets = plan.secrets.map(({ ref: _ref, ...shown }) => shown)
    out.out(JSON.stringify({ dryRun: true, secrets, dropped: plan.dropped }, null, 2))
  } else {
    for (const s of plan.secrets)
      if (s.readable) out.out(`would rekey ${s.secret} to ${s.to.join(', ') || 'nobody'}`)
    const n = plan.secrets.length - unreadable.length
    out.out(`${n} secret${n === 1 ? '' : 's'} would be rekeyed; nothing was changed (--dry-run)`)
  }
  for (const { key, secrets } of plan.dropped) out.err(historyWarning(key, secrets))
  if (unreadable.length > 0) throw notYours(unreadable, 'cannot be rekeyed by you')
}

const notYours = (secrets: string[], what: string) =>
  new UserError(
    `${secrets.length} secret${secrets.length === 1 ? ' is' : 's are'} not encrypted to you and ${what}: ${secrets.join(', ')}`,
    {
      exitCode: ExitCode.notRecipient,
      hint: 'an admin who can read them runs `keystone secrets rekey`',
    },
  )

// Rekeying stops a removed recipient from reading what is written from now on, not what git
// already holds: each old .age file in the history still opens with that key.
export function historyWarning(key: string, refs: string[]): string {
  const shown = refs.length > 5 ? [...refs.slice(0, 5), `… (${refs.length} in all)`] : refs
  return `warning: the removed recipient ${key.slice(0, 12)}…${key.slice(-6)} can still read ${refs.length === 1 ? 'this value' : `these ${refs.length} values`} from git history: ${shown.join(', ')}; replace each with \`keystone secrets rotate <secret>\` (or \`secrets set\`), then \`keystone deploy\` or \`update\` the hosts that use them`
}

export async function runSecretsRecipients(
  options: VaultOptions & { action: 'add' | 'remove'; admin?: string; host?: string; key?: string },
): Promise<void> {
  const out = options.output ?? processOutput
  const root = rootOf(options)
  if ((options.admin === undefined) === (options.host === undefined)) {
    throw new UsageError('name exactly one of --admin <name> or --host <name>')
  }
  const recipients = loadRecipients(root)
  const section = options.admin !== undefined ? 'admins' : 'hosts'
  const name = (options.admin ?? options.host)!
  if (options.action === 'add') {
    if (options.key === undefined || !AGE_RECIPIENT.test(options.key)) {
      throw new UsageError(
        `expected an age1… public key, got \`${options.key ?? ''}\``,
        'give the key printed by `keystone secrets init` or `age-keygen -y`',
      )
    }
    recipients[section][name] = options.key
  } else {
    if (!(name in recipients[section]))
      throw new UserError(`secrets/recipients.yaml has no ${section.slice(0, -1)} ${name}`)
    if (section === 'admins' && Object.keys(recipients.admins).length === 1) {
      throw new UserError(
        `${name} is the last admin; removing them would leave secrets nobody can rekey`,
        {
          hint: 'add another admin first',
        },
      )
    }
    delete recipients[section][name]
  }
  await saveRecipients(root, recipients)
  out.out(
    `${options.action === 'add' ? 'added' : 'removed'} ${section.slice(0, -1)} ${name}; run \`keystone secrets rekey\` so that the secrets follow`,
  )
}
