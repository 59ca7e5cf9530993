import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { UsageError, UserError } from '../errors.js'
import { ExitCode } from '../exit-codes.js'
import { writeFileAtomic } from '../fs/write-file-atomic.js'
import { decryptFile, encryptTo } from './age.js'
import { readersOf, type Recipients } from './recipients.js'

// One age file per secret, secrets/<scope>/<name>.age, and beside it <name>.meta.json with what
// `list` shows without decrypting: kind, dates, and the public keys the file is encrypted to.

import { type SecretKind } from './secret-kinds.js'
export type { SecretKind }

export interface SecretRef {
  scope: string
  name: string
}

export interface SecretMeta {
  kind: SecretKind
  created: string
  rotated: string
  // The age public keys the .age file is encrypted to, and their fingerprint.
  recipients: string[]
  fingerprint: string
  // Set by `rotate`: the value before it is kept (encrypted) until a deploy confirms the new one.
  previousRotated?: string
}

const PART = /^[a-z0-9][a-z0-9._-]*$/

export function parseRef(text: string): SecretRef {
  const parts = text.split('/')
  if (
    parts.length !== 2 ||
    !PART.test(parts[0]!) ||
    !PART.test(parts[1]!) ||
    parts[1]!.endsWith('.age')
  ) {
    throw new UsageError(
      `\`${text}\` is not a secret name`,
      'name a secret as <scope>/<name>, e.g. fleet/s3-backup or web1/mesh-auth-key',
    )
  }
  return { scope: parts[0]!, name: parts[1]! }
}

export const refText = (ref: SecretRef) => `${ref.scope}/${ref.name}`

export function secretFile(fleetRoot: string, ref: SecretRef): string {
  return path.join(fleetRoot, 'secrets', ref.scope, `${ref.name}.age`)
}

const metaFile = (fleetRoot: string, ref: SecretRef) =>
  path.join(fleetRoot, 'secrets', ref.scope, `${ref.name}.meta.json`)

export function fingerprint(recipients: readonly string[]): string {
  return (
    'sha256:' +
    createHash('sha256')
      .update([...recipients].sort().join('\n'))
      .digest('hex')
      .slice(0, 16)
  )
}

// A scope is the fleet or a host that has a host file or a key in recipients.yaml.
export function checkScope(fleetRoot: string, recipients: Recipients, scope: string): void {
  if (
    scope === 'fleet' ||
    scope in recipients.hosts ||
    existsSync(path.join(fleetRoot, 'hosts', `${scope}.yaml`))
  )
    return
  throw new UsageError(
    `no host \`${scope}\` in this fleet`,
    'use `fleet/<name>` or `<host>/<name>` for a host in hosts/',
  )
}

export function readMeta(fleetRoot: string, ref: SecretRef): SecretMeta | undefined {
  const file = metaFile(fleetRoot, ref)
  if (!existsSync(file)) return undefined
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SecretMeta
  } catch {
    throw new UserError(`${path.relative(fleetRoot, file)} is not valid JSON`, {
      exitCode: ExitCode.integrity,
      hint: 'restore it from git',
    })
  }
}

export function listSecrets(fleetRoot: string): SecretRef[] {
  const root = path.join(fleetRoot, 'secrets')
  if (!existsSync(root)) return []
  const refs: SecretRef[] = []
  for (const scope of readdirSync(root, { withFileTypes: true })) {
    if (!scope.isDirectory()) continue
    for (const file of readdirSync(path.join(root, scope.name))) {
      if (file.endsWith('.age') && !file.endsWith('.previous.age'))
        refs.push({ scope: scope.name, name: file.slice(0, -'.age'.length) })
    }
  }
  return refs.sort((a, b) => refText(a).localeCompare(refText(b)))
}

// Encrypts `value` to the scope's current readers and writes the secret and its metadata.
export async function writeSecret(
  fleetRoot: string,
  recipients: Recipients,
  ref: SecretRef,
  value: Uint8Array,
  options: { kind: SecretKind; rotated?: boolean },
): Promise<SecretMeta> {
  const keys = Object.values(readersOf(recipients, ref.scope))
  const previous = readMeta(fleetRoot, ref)
  const now = new Date().toISOString()
  const meta: SecretMeta = {
    kind: options.kind,
    created: previous?.created ?? now,
    rotated: options.rotated === true || previous === undefined ? now : previous.rotated,
    recipients: [...new Set(keys)].sort(),
    fingerprint: fingerprint(keys),
  }
  await writeFileAtomic(secretFile(fleetRoot, ref), await encryptTo(meta.recipients, value))
  await writeFileAtomic(metaFile(fleetRoot, ref), JSON.stringify(meta, null, 2) + '\n')
  return meta
}

export async function readSecret(
  fleetRoot: string,
  ref: SecretRef,
  identity: { secret: string; recipient: string },
): Promise<Uint8Array> {
  const file = secretFile(fleetRoot, ref)
  const shown = path.relative(fleetRoot, file)
  let ciphertext: Buffer
  try {
    ciphertext = await readFile(file)
  } catch {
    throw new UserError(`no secret ${refText(ref)}`, { hint: 'see `keystone secrets list`' })
  }
  try {
    return await decryptFile(shown, ciphertext, { identities: [identity.secret] })
  } catch (error) {
    // age cannot tell a file for someone else from one whose recipient stanza was altered; the
    // metadata can: if this identity is listed, the file was meant for it and has been damaged.
    const listed = readMeta(fleetRoot, ref)?.recipients.includes(identity.recipient) === true
    if (error instanceof UserError && error.exitCode === ExitCode.notRecipient && listed) {
      throw new UserError(
        `${shown}: damaged or tampered age file (it lists your key but does not open with it)`,
        {
          exitCode: ExitCode.integrity,
          hint: 'restore it from git (`git checkout -- <file>`) and compare with `git log -p`',
          cause: error,
        },
      )
    }
    throw error
  }
}

export async function removeSecret(fleetRoot: string, ref: SecretRef): Promise<void> {
  if (!existsSync(secretFile(fleetRoot, ref)))
    throw new UserError(`no secret ${refText(ref)}`, { hint: 'see `keystone secrets list`' })
  await rm(secretFile(fleetRoot, ref))
  await rm(metaFile(fleetRoot, ref), { force: true })
}

const previousFile = (fleetRoot: string, ref: SecretRef) =>
  path.join(fleetRoot, 'secrets', ref.scope, `${ref.name}.previous.age`)

// Before a rotation: keep the current encrypted value, so that a host still using it can be
// reached until `keystone deploy`/`update` confirms the new one (confirmRotation).
export async function keepPrevious(fleetRoot: string, ref: SecretRef): Promise<void> {
  await writeFileAtomic(previousFile(fleetRoot, ref), await readFile(secretFile(fleetRoot, ref)))
}

export async function confirmRotation(fleetRoot: string, ref: SecretRef): Promise<boolean> {
  const file = previousFile(fleetRoot, ref)
  if (!existsSync(file)) return false
  await rm(file)
  const meta = readMeta(fleetRoot, ref)
  if (meta !== undefined) {
    delete meta.previousRotated
    await writeFileAtomic(metaFile(fleetRoot, ref), JSON.stringify(meta, null, 2) + '\n')
  }
  return true
}

export function hasPrevious(fleetRoot: string, ref: SecretRef): boolean {
  return existsSync(previousFile(fleetRoot, ref))
}

export async function markRotated(
  fleetRoot: string,
  ref: SecretRef,
  previousRotated: string,
): Promise<void> {
  const meta = readMeta(fleetRoot, ref)
  if (meta === undefined) return
  await writeFileAtomic(
    metaFile(fleetRoot, ref),
    JSON.stringify({ ...meta, previousRotated }, null, 2) + '\n',
  )
}
