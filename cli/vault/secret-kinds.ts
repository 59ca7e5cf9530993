// What a secret is, recorded in its metadata: decides how `rotate` makes a new value and whether a
// delivered file may end in a newline. A module of its own so that the command table can offer
// the choices without loading the vault.
export const SECRET_KINDS = [
  'passphrase',
  'recovery-key',
  'ssh-key',
  'age-key',
  's3-credentials',
  'token',
  'other',
] as const
export type SecretKind = (typeof SECRET_KINDS)[number]
