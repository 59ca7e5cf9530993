import type { Argv } from 'yargs'

// How a command that reads the vault gets the admin's identity: the passphrase-locked one
// (asked on the terminal), a plain age identity file, or the passphrase on a file descriptor.
export interface IdentityArgs {
  identity?: string
  'passphrase-fd'?: number
}

export const identityOptions = <T>(y: Argv<T>) =>
  y
    .option('identity', {
      type: 'string',
      describe: 'a plain age identity file instead of your passphrase-locked one',
    })
    .option('passphrase-fd', {
      type: 'number',
      describe: 'read the identity passphrase from this file descriptor',
    })

export const identityFrom = (args: IdentityArgs) => ({
  ...(args.identity !== undefined && { identityFile: args.identity }),
  ...(args['passphrase-fd'] !== undefined && { passphraseFd: args['passphrase-fd'] }),
})
