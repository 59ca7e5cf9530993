import { randomBytes } from 'node:crypto'
import { UserError } from '../errors.js'
import { newIdentity } from './age.js'
import type { SecretKind } from './store.js'

// A fresh random value for `rotate`, by kind. Kinds whose value comes from elsewhere (a
// recovery key from systemd-cryptenroll, credentials from an S3 provider) are refused.
const TYPEABLE = 'cbdefghijklnrtuv' // 16 letters, unambiguous on any keyboard layout (modhex)

export async function generateValue(kind: SecretKind): Promise<Buffer> {
  switch (kind) {
    case 'passphrase': {
      // 8 groups of 8 letters, 256 bits, typeable at an initrd prompt.
      const letters = [...randomBytes(64)].map((byte) => TYPEABLE[byte % 16]).join('')
      return Buffer.from(letters.match(/.{8}/g)!.join('-'))
    }
    case 'token':
      return Buffer.from(randomBytes(32).toString('base64url'))
    case 'age-key':
      return Buffer.from((await newIdentity()).identity)
    default:
      throw new UserError(`Keystone cannot make a new value of kind ${kind}`, {
        hint:
          kind === 'recovery-key'
            ? 'recovery keys are replaced by `keystone enroll`'
            : 'get a new value where it is issued and store it with `keystone secrets set`',
      })
  }
}
