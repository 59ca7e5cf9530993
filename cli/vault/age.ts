import { Decrypter, Encrypter, generateX25519Identity, identityToRecipient } from 'age-encryption'
import { UserError } from '../errors.js'
import { ExitCode } from '../exit-codes.js'

// The one door to age (STYLE.md §5): the age-encryption package, which reads and writes the same
// format as the `age` binary (test/vault/age-interop.test.ts checks both directions). X25519
// only: Debian's age 1.1 has no post-quantum recipients.

export const AGE_RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/

export async function newIdentity(): Promise<{ identity: string; recipient: string }> {
  const identity = await generateX25519Identity()
  return { identity, recipient: await identityToRecipient(identity) }
}

export async function recipientOf(identity: string): Promise<string> {
  return identityToRecipient(identity)
}

export async function encryptTo(
  recipients: readonly string[],
  plaintext: Uint8Array,
): Promise<Uint8Array> {
  if (recipients.length === 0) throw new UserError('no recipients to encrypt to')
  const encrypter = new Encrypter()
  for (const recipient of recipients) encrypter.addRecipient(recipient)
  return encrypter.encrypt(plaintext)
}

// Low work factor only in tests of the file format; identities use age's default (2^18).
export async function encryptWithPassphrase(
  passphrase: string,
  plaintext: Uint8Array,
  logN?: number,
): Promise<Uint8Array> {
  const encrypter = new Encrypter()
  encrypter.setPassphrase(passphrase)
  if (logN !== undefined) encrypter.setScryptWorkFactor(logN)
  return encrypter.encrypt(plaintext)
}

// Decrypts `file` (named for messages). Maps age's failures to the vault's exit codes: a file no
// identity matches is not a recipient's (6), a wrong passphrase is 4, anything malformed,
// truncated or failing authentication is an integrity failure (3). Never returns partial output:
// age authenticates every chunk before the plaintext is handed over.
export async function decryptFile(
  file: string,
  ciphertext: Uint8Array,
  key: { identities: readonly string[] } | { passphrase: string },
): Promise<Uint8Array> {
  const decrypter = new Decrypter()
  if ('passphrase' in key) decrypter.addPassphrase(key.passphrase)
  else for (const identity of key.identities) decrypter.addIdentity(identity)
  try {
    return await decrypter.decrypt(ciphertext)
  } catch (error) {
    throw classify(file, error, 'passphrase' in key)
  }
}

function classify(file: string, error: unknown, withPassphrase: boolean): UserError {
  const message = error instanceof Error ? error.message : String(error)
  if (/no identity matched/i.test(message)) {
    if (withPassphrase) {
      return new UserError(`${file}: wrong passphrase`, {
        exitCode: ExitCode.wrongPassphrase,
        hint: 'type the passphrase of your Keystone identity again',
        cause: error,
      })
    }
    return new UserError(`${file}: not encrypted to your identity`, {
      exitCode: ExitCode.notRecipient,
      hint: 'ask an admin who can read it to add you (`keystone secrets recipients add`) and run `keystone secrets rekey`',
      cause: error,
    })
  }
  if (/incorrect passphrase|invalid passphrase/i.test(message) && withPassphrase) {
    return new UserError(`${file}: wrong passphrase`, {
      exitCode: ExitCode.wrongPassphrase,
      hint: 'type the passphrase of your Keystone identity again',
      cause: error,
    })
  }
  return new UserError(`${file}: damaged or tampered age file (${message})`, {
    exitCode: ExitCode.integrity,
    hint: 'restore it from git (`git checkout -- <file>`) and compare with `git log -p`',
    cause: error,
  })
}
