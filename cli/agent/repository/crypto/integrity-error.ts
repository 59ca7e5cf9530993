import { ExitCode } from '../../../exit-codes.js'
import { UserError } from '../../../errors.js'

// An object in the store that is not what Keystone wrote: a flipped byte, a truncation, a swap.
// Always exit 3, always naming the object, so nothing tampered is ever restored silently.
export class IntegrityError extends UserError {
  readonly object: string

  constructor(object: string, reason: string) {
    super(`${object}: ${reason}`, {
      exitCode: ExitCode.integrity,
      hint: 'the store holds a damaged or altered object; restore it from another copy, or run `keystone agent verify --read-data` to list every damaged object',
    })
    this.name = 'IntegrityError'
    this.object = object
  }
}
