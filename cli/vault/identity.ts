import { chmod, mkdir, readFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { userConfigDir } from '../config.js'
import { UserError } from '../errors.js'
import { ExitCode } from '../exit-codes.js'
import { writeFileAtomic } from '../fs/write-file-atomic.js'
import { decryptFile, encryptWithPassphrase, newIdentity, recipientOf } from './age.js'
import { isTerminal, passphraseFromFd, promptHidden } from './read-input.js'

// An admin's vault identity: an age X25519 key in ~/.config/keystone/identity.age, encrypted
// with a passphrase (age's scrypt recipient), so that a stolen laptop backup yields nothing.
// Automation may instead give a plain age identity file (`--identity`), as `age -i` takes.

export interface IdentityOptions {
  // A plain age identity file (AGE-SECRET-KEY-1… lines), instead of the passphrase-locked one.
  identityFile?: string
  // Read the passphrase from this file descriptor instead of asking on the terminal.
  passphraseFd?: number
}

export function identityPath(): string {
  return path.join(userConfigDir(), 'identity.age')
}

async function askPassphrase(options: IdentityOptions, confirm: boolean): Promise<string> {
  if (options.passphraseFd !== undefined) return passphraseFromFd(options.passphraseFd)
  if (!isTerminal()) {
    throw new UserError('no terminal to ask for the identity passphrase', {
      hint: 'run on a terminal, or pass the passphrase on a file descriptor: `--passphrase-fd 3 3<file`',
    })
  }
  const first = await promptHidden('Passphrase for your Keystone identity: ')
  if (confirm && (await promptHidden('Repeat the passphrase: ')) !== first) {
    throw new UserError('the two passphrases differ', { hint: 'run the command again' })
  }
  return first
}

// Creates the identity and returns its public key. An existing identity is kept (its passphrase
// is asked for, to show its key); with --identity, that file's key is used instead.
export async function createIdentity(
  options: IdentityOptions & { scryptLogN?: number },
): Promise<string> {
  if (options.identityFile !== undefined)
    return recipientOf(await readPlainIdentity(options.identityFile))
  const file = identityPath()
  if (existsSync(file)) {
    return recipientOf(await unlockIdentity(options))
  }
  const passphrase = await askPassphrase(options, true)
  if (passphrase.length < 8) {
    throw new UserError('the passphrase is shorter than 8 characters', {
      hint: 'choose a longer one',
    })
  }
  const { identity, recipient } = await newIdentity()
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 })
  const sealed = await encryptWithPassphrase(
    passphrase,
    new TextEncoder().encode(identity + '\n'),
    options.scryptLogN,
  )
  await writeFileAtomic(file, sealed, 0o600)
  await chmod(file, 0o600)
  return recipient
}

// The admin's private identity string, unlocked.
export async function unlockIdentity(options: IdentityOptions): Promise<string> {
  if (options.identityFile !== undefined) return readPlainIdentity(options.identityFile)
  const file = identityPath()
  if (!existsSync(file)) {
    throw new UserError(`no Keystone identity at ${file}`, {
      exitCode: ExitCode.noIdentity,
      hint: 'run `keystone secrets init`, or pass an age identity file with `--identity`',
    })
  }
  const passphrase = await askPassphrase(options, false)
  const plain = await decryptFile(file, await readFile(file), { passphrase })
  return parseIdentities(Buffer.from(plain).toString('utf8'), file)[0]!
}

async function readPlainIdentity(file: string): Promise<string> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch {
    throw new UserError(`cannot read the identity file ${file}`, {
      exitCode: ExitCode.noIdentity,
      hint: 'give the path of an age identity file (made by `age-keygen`)',
    })
  }
  return parseIdentities(text, file)[0]!
}

function parseIdentities(text: string, file: string): string[] {
  const identities = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('AGE-SECRET-KEY-1'))
  if (identities.length === 0) {
    throw new UserError(`${file} holds no age identity (AGE-SECRET-KEY-1…)`, {
      exitCode: ExitCode.noIdentity,
    })
  }
  return identities
}
