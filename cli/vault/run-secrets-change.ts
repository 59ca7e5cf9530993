import { spawn } from 'node:child_process'
import { editorCommand, loadConfig, runtimeDir } from '../config.js'
import { withInterrupt } from '../interrupt.js'
import { UserError } from '../errors.js'
import { processOutput } from '../ui/output.js'
import { recipientOf } from './age.js'
import { generateValue } from './generate-value.js'
import { unlockIdentity } from './identity.js'
import { readPrivateFile, withPrivateFile } from './private-file.js'
import { loadRecipients, readersOf } from './recipients.js'
import type { VaultOptions } from './run-secrets.js'
import {
  keepPrevious,
  markRotated,
  parseRef,
  readMeta,
  readSecret,
  refText,
  writeSecret,
} from './store.js'

// `secrets rotate` and `secrets edit`: commands that replace a stored value.

async function open(options: VaultOptions, text: string) {
  const root = loadConfig({ fleet: options.fleet }).fleetRoot
  const ref = parseRef(text)
  const meta = readMeta(root, ref)
  if (meta === undefined)
    throw new UserError(`no secret ${text}`, { hint: 'see `keystone secrets list`' })
  const secret = await unlockIdentity(options)
  const identity = { secret, recipient: await recipientOf(secret) }
  return { root, ref, meta, identity }
}

// A new random value of the secret's kind. The old value stays (encrypted) as <name>.previous.age
// until a deploy confirms the new one on the host.
// --dry-run says what would change (--json: as data) and writes nothing.
export async function runSecretsRotate(
  options: VaultOptions & { ref: string; dryRun?: boolean; json?: boolean },
): Promise<void> {
  const out = options.output ?? processOutput
  const { root, ref, meta, identity } = await open(options, options.ref)
  // Proves the admin may read the secret before anything changes.
  ;(await readSecret(root, ref, identity)).fill(0)
  if (options.dryRun === true) {
    const to = Object.keys(readersOf(loadRecipients(root), ref.scope))
    const plan = { dryRun: true, secret: refText(ref), kind: meta.kind, to, keepsPrevious: true }
    return out.out(
      options.json === true
        ? JSON.stringify(plan, null, 2)
        : `would rotate ${refText(ref)}: a new random ${meta.kind} value, encrypted to ${to.join(', ')}; the previous value kept until \`keystone deploy\` or \`update\` confirms the new one; nothing was changed (--dry-run)`,
    )
  }
  const value = await generateValue(meta.kind)
  await keepPrevious(root, ref)
  await writeSecret(root, loadRecipients(root), ref, value, { kind: meta.kind, rotated: true })
  await markRotated(root, ref, meta.rotated)
  value.fill(0)
  out.out(
    `rotated ${refText(ref)}; the previous value is kept until \`keystone deploy\` or \`update\` confirms the new one`,
  )
}

// Opens the decrypted value in $VISUAL/$EDITOR from a private in-memory file, stores the result
// if it changed, and wipes the file on every exit path.
export async function runSecretsEdit(options: VaultOptions & { ref: string }): Promise<void> {
  const out = options.output ?? processOutput
  const { root, ref, meta, identity } = await open(options, options.ref)
  const before = Buffer.from(await readSecret(root, ref, identity))
  try {
    const after = await withInterrupt((signal) =>
      withPrivateFile(before, runtimeDir(), async (file) => {
        const result = await runEditor(file, signal)
        // A signal to Keystone ended the editor: withInterrupt reports it (exit 130), after the
        // private file is wiped.
        signal.throwIfAborted()
        if (result.code !== 0)
          throw new UserError(
            `the editor ${result.code === null ? `was killed by ${result.signal}` : `exited with ${result.code}`}; ${refText(ref)} is unchanged`,
          )
        return readPrivateFile(file)
      }),
    )
    try {
      if (after.equals(before)) {
        out.out(`${refText(ref)} unchanged`)
        return
      }
      if (after.length === 0)
        throw new UserError(`the edited value is empty; ${refText(ref)} is unchanged`)
      await writeSecret(root, loadRecipients(root), ref, after, { kind: meta.kind, rotated: true })
      out.out(`updated ${refText(ref)}`)
    } finally {
      after.fill(0)
    }
  } finally {
    before.fill(0)
  }
}

// The editor gets the file's path, never the value; a shell splits "$EDITOR" as git does, and
// `exec` makes the editor the child itself, so that a signal to Keystone reaches it. On a signal
// the editor is asked to stop (SIGTERM, then SIGKILL after 5 s) and awaited: the file is wiped
// only once nothing writes it any more.
function runEditor(
  file: string,
  signal: AbortSignal,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', `exec ${editorCommand()} "$1"`, 'editor', file], {
      stdio: 'inherit',
    })
    let kill: NodeJS.Timeout | undefined
    const stop = () => {
      child.kill('SIGTERM')
      kill = setTimeout(() => child.kill('SIGKILL'), 5_000)
    }
    signal.addEventListener('abort', stop, { once: true })
    child.on('error', (error) => {
      signal.removeEventListener('abort', stop)
      reject(new UserError(`the editor could not be started: ${error.message}`))
    })
    child.on('exit', (code, killedBy) => {
      clearTimeout(kill)
      signal.removeEventListener('abort', stop)
      resolve({ code, signal: killedBy })
    })
  })
}
