import { chown, mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { isMachineSecret } from './machine-secrets.js'
import { loadRecipients, readersOf, type Recipients } from './recipients.js'
import {
  listSecrets,
  readMeta,
  readSecret,
  refText,
  type SecretKind,
  type SecretRef,
} from './store.js'

// What `keystone deploy` and `update` install on a host: every secret the host may read, as files
// under <root>/var/lib/keystone/secrets/ (host secrets by name, fleet secrets under fleet/), root
// only. <root> is the tree handed to nixos-anywhere --extra-files, kept in memory by the caller.
// Services reach the files through systemd credentials (modules/secrets).
export const HOST_SECRETS_DIR = 'var/lib/keystone/secrets'

// Values read by programs that take the whole file as the key: a trailing newline would become
// part of it (nixos-anywhere#689, cryptsetup --key-file).
const NO_NEWLINE: readonly SecretKind[] = ['passphrase', 'recovery-key', 'token', 'age-key']

export interface RenderedSecret {
  secret: string
  path: string
  mode: number
  owner: string
}

// The secrets a host receives, known without decrypting anything: `keystone plan` lists them.
export function secretsForHost(
  fleetRoot: string,
  host: string,
  recipients: Recipients = loadRecipients(fleetRoot),
): SecretRef[] {
  const hostKey = recipients.hosts[host]
  return listSecrets(fleetRoot).filter(
    (ref) =>
      (ref.scope === 'fleet' || (ref.scope === host && !isMachineSecret(ref.name))) &&
      // Only what the host itself will be able to read after the next rekey, too.
      (hostKey === undefined || Object.values(readersOf(recipients, ref.scope)).includes(hostKey)),
  )
}

export async function renderHostSecrets(options: {
  fleetRoot: string
  host: string
  identity: { secret: string; recipient: string }
  // The caller's already-open vault, if it has one.
  recipients?: Recipients
  root: string
}): Promise<RenderedSecret[]> {
  const rendered: RenderedSecret[] = []
  const asRoot = process.getuid?.() === 0
  for (const ref of secretsForHost(options.fleetRoot, options.host, options.recipients)) {
    const meta = readMeta(options.fleetRoot, ref)
    let value: Buffer = Buffer.from(await readSecret(options.fleetRoot, ref, options.identity))
    if (meta !== undefined && NO_NEWLINE.includes(meta.kind)) value = trimNewline(value)
    const relative = path.join(HOST_SECRETS_DIR, ref.scope === 'fleet' ? 'fleet' : '', ref.name)
    const file = path.join(options.root, relative)
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 })
    await writeFile(file, value, { mode: 0o400, flag: 'wx' })
    value.fill(0)
    // The tree is copied to the host as it is: root must own it there.
    if (asRoot) {
      await chown(file, 0, 0)
      await chown(path.dirname(file), 0, 0)
    }
    rendered.push({ secret: refText(ref), path: '/' + relative, mode: 0o400, owner: 'root:root' })
  }
  return rendered
}

function trimNewline(value: Buffer): Buffer {
  let end = value.length
  while (end > 0 && (value[end - 1] === 0x0a || value[end - 1] === 0x0d)) end--
  return value.subarray(0, end)
}
