import { createPrivateKey, randomBytes, randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { generateSigningKey, publicKeyString } from '../records/signing-key.js'
import type { Host } from '../host/host-schema.js'
import { newIdentity, recipientOf } from '../vault/age.js'
import { generateValue } from '../vault/generate-value.js'
import { MACHINE_SECRETS, type MachineSecret } from '../vault/machine-secrets.js'
import { loadRecipients, readersOf, saveRecipients, type Recipients } from '../vault/recipients.js'
import { renderHostSecrets } from '../vault/render-host-secrets.js'
import {
  fingerprint,
  listSecrets,
  readMeta,
  readSecret,
  secretFile,
  writeSecret,
} from '../vault/store.js'
import {
  AGENT_SIGNING_KEY,
  DISK_KEYS,
  HOST_AGE_KEY,
  INITRD_HOST_KEY,
  SECURE_BOOT_KINDS,
  SECURE_BOOT_PKI,
} from './plan-key-material.js'
import { runTool } from './run-tool.js'

// Makes a deploy's key material in the private directory `dir`: the disk keys for
// --disk-encryption-keys, and the tree for --extra-files. The host's identity (SSH host keys,
// Secure Boot keys, age key) is taken from the vault when it is there, so a reinstall keeps it,
// and stored there when new; the disk keys are new for every install. Everything new reaches the
// vault before any disk is touched, so a failed deploy loses nothing.

export interface KeyMaterial {
  extraFiles: string
  diskKeys: { remote: string; local: string }[]
  sshHostKey: string
  initrdHostKey: string | undefined
  // `ed25519:…`, to pin in the host file, when the host runs the sync agent.
  agentKey: string | undefined
  // The secrets rendered into /var/lib/keystone/secrets, by name.
  injectedSecrets: string[]
}

export interface Vault {
  fleetRoot: string
  host: string
  identity: { secret: string; recipient: string }
  // secrets/recipients.yaml, read once for the whole deploy (and kept current when the host is
  // enlisted), not once per secret.
  recipients?: Recipients
}

const recipientsOf = (vault: Vault): Recipients =>
  (vault.recipients ??= loadRecipients(vault.fleetRoot))

export async function makeKeyMaterial(options: {
  dir: string
  host: Host
  fleetRoot: string
  identity: { secret: string; recipient: string }
}): Promise<KeyMaterial> {
  const { dir, host } = options
  const vault: Vault = {
    fleetRoot: options.fleetRoot,
    host: host.name,
    identity: options.identity,
    recipients: loadRecipients(options.fleetRoot),
  }
  const tree = path.join(dir, 'extra-files')

  // The age key first: the host's other secrets are encrypted to it as well.
  const ageKey = await kept(vault, 'age-key', async () =>
    Buffer.from((await newIdentity()).identity),
  )
  await enlistHost(vault, ageKey.toString('utf8').trim())
  await place(tree, HOST_AGE_KEY, ageKey, 0o400)

  const sshHostKey = await placeSshKey(vault, 'ssh-host-key', tree, '/etc/ssh/ssh_host_ed25519_key')
  const initrdHostKey = host.remoteUnlock.enable
    ? await placeSshKey(vault, 'initrd-ssh-host-key', tree, INITRD_HOST_KEY)
    : undefined
  if (host.secureBoot.enable && host.secureBoot.keys === 'provided')
    await placeSecureBootKeys(vault, tree, path.join(dir, 'secure-boot'))
  let agentKey: string | undefined
  if (host.sync.enable) {
    const pem = await kept(vault, 'agent-signing-key', async () =>
      Buffer.from(generateSigningKey()),
    )
    await place(tree, AGENT_SIGNING_KEY, pem, 0o400)
    agentKey = publicKeyString(createPrivateKey(pem))
  }

  const diskKeys = []
  for (const key of DISK_KEYS) {
    const value =
      key.secret === 'zfs-key' ? randomBytes(32) : await generateValue(MACHINE_SECRETS[key.secret])
    await store(vault, key.secret, value)
    const local = path.join(dir, 'disk-keys', key.secret)
    await mkdir(path.dirname(local), { recursive: true, mode: 0o700 })
    await writeFile(local, value, { mode: 0o400, flag: 'wx' })
    value.fill(0)
    diskKeys.push({ remote: key.remote, local })
  }

  const rendered = await renderHostSecrets({
    fleetRoot: options.fleetRoot,
    host: host.name,
    identity: options.identity,
    recipients: recipientsOf(vault),
    root: tree,
  })
  await fixDirectoryModes(tree)
  return {
    extraFiles: tree,
    diskKeys,
    sshHostKey,
    initrdHostKey,
    agentKey,
    injectedSecrets: rendered.map((secret) => secret.secret),
  }
}

// The value kept in the vault, or a new one that is stored there first.
async function kept(
  vault: Vault,
  name: MachineSecret,
  make: () => Promise<Buffer>,
): Promise<Buffer> {
  const ref = { scope: vault.host, name }
  if (existsSync(secretFile(vault.fleetRoot, ref)))
    return Buffer.from(await readSecret(vault.fleetRoot, ref, vault.identity))
  const value = await make()
  await store(vault, name, value)
  return value
}

async function store(vault: Vault, name: MachineSecret, value: Uint8Array): Promise<void> {
  await writeSecret(vault.fleetRoot, recipientsOf(vault), { scope: vault.host, name }, value, {
    kind: MACHINE_SECRETS[name],
    rotated: true,
  })
}

// Lists the host in secrets/recipients.yaml with its age key (once), so that what the vault
// encrypts to the host from now on can be read there.
async function enlistHost(vault: Vault, identity: string): Promise<void> {
  const recipients = recipientsOf(vault)
  const recipient = await recipientOf(identity)
  if (recipients.hosts[vault.host] === recipient) return
  recipients.hosts[vault.host] = recipient
  await saveRecipients(vault.fleetRoot, recipients)
  // What the host may read is re-encrypted to it now, as `keystone secrets rekey` would.
  for (const ref of listSecrets(vault.fleetRoot)) {
    if (ref.scope !== 'fleet' && ref.scope !== vault.host) continue
    const meta = readMeta(vault.fleetRoot, ref)
    if (
      meta === undefined ||
      meta.fingerprint === fingerprint(Object.values(readersOf(recipients, ref.scope)))
    )
      continue
    const value = await readSecret(vault.fleetRoot, ref, vault.identity)
    await writeSecret(vault.fleetRoot, recipients, ref, value, { kind: meta.kind })
    value.fill(0)
  }
}

async function placeSshKey(
  vault: Vault,
  name: MachineSecret,
  tree: string,
  target: string,
): Promise<string> {
  const privateKey = await kept(vault, name, async () => {
    const scratch = path.join(tree, '..', `${name}-new`)
    await runTool('ssh-keygen', [
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-C',
      `root@${vault.host}`,
      '-f',
      scratch,
    ])
    return readFile(scratch)
  })
  const file = await place(tree, target, privateKey, 0o600)
  const publicKey = await runTool('ssh-keygen', ['-y', '-f', file])
  await place(tree, `${target}.pub`, Buffer.from(`${publicKey} root@${vault.host}\n`), 0o644)
  return publicKey
}

// sbctl's layout (foxboron/sbctl): <pki>/GUID and <pki>/keys/<KIND>/<KIND>.{key,pem}, RSA 4096
// self-signed certificates as `sbctl create-keys` makes them. Kept in the vault as one JSON value.
export async function placeSecureBootKeys(
  vault: Vault,
  tree: string,
  scratch: string,
): Promise<void> {
  const bundle = await kept(vault, 'secure-boot-keys', async () => {
    const files: Record<string, string> = {
      GUID: Buffer.from(randomUUID() + '\n').toString('base64'),
    }
    await mkdir(scratch, { recursive: true, mode: 0o700 })
    for (const kind of SECURE_BOOT_KINDS) {
      const key = path.join(scratch, `${kind}.key`)
      const pem = path.join(scratch, `${kind}.pem`)
      await runTool('openssl', [
        'req',
        '-new',
        '-x509',
        '-newkey',
        'rsa:4096',
        '-sha256',
        '-days',
        '7300',
        '-nodes',
        '-subj',
        `/CN=${vault.host} ${kind}/`,
        '-keyout',
        key,
        '-out',
        pem,
      ])
      files[`keys/${kind}/${kind}.key`] = (await readFile(key)).toString('base64')
      files[`keys/${kind}/${kind}.pem`] = (await readFile(pem)).toString('base64')
    }
    return Buffer.from(JSON.stringify(files))
  })
  const files = JSON.parse(bundle.toString('utf8')) as Record<string, string>
  for (const [relative, content] of Object.entries(files))
    await place(
      tree,
      `${SECURE_BOOT_PKI}/${relative}`,
      Buffer.from(content, 'base64'),
      relative.endsWith('.pem') ? 0o644 : 0o600,
    )
}

async function place(
  tree: string,
  target: string,
  content: Uint8Array,
  mode: number,
): Promise<string> {
  const file = path.join(tree, target)
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 })
  await writeFile(file, content, { mode, flag: 'wx' })
  await chmod(file, mode)
  return file
}

// nixos-anywhere copies the tree with `tar -p` onto the new root, so directory modes travel: the
// system's own directories must stay world-readable, the key directories private.
const PRIVATE_DIRS = ['etc/secrets', 'var/lib/sbctl', 'var/lib/keystone/secrets']

async function fixDirectoryModes(tree: string): Promise<void> {
  await chmod(tree, 0o755)
  const entries = await readdir(tree, { withFileTypes: true, recursive: true })
  for (const entry of entries) {
    if (!entry.isDirectory()) continue
    const relative = path.relative(tree, path.join(entry.parentPath, entry.name))
    const isPrivate = PRIVATE_DIRS.some((dir) => relative === dir || relative.startsWith(dir + '/'))
    await chmod(path.join(tree, relative), isPrivate ? 0o700 : 0o755)
  }
}
