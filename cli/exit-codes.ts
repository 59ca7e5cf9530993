// Every exit code Keystone uses, in one place (STYLE.md §8). Scripts may rely on these.
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  // Tampered, forged or truncated data: never confused with an ordinary failure.
  integrity: 3,
  // The vault: the admin's identity is locked with another passphrase.
  wrongPassphrase: 4,
  // The vault: no admin identity on this machine (`keystone secrets init`).
  noIdentity: 5,
  // The vault: the secret is not encrypted to this identity; an admin who can read it rekeys.
  notRecipient: 6,
  internal: 70,
  // The sync agent: the work is done and safe on this device, queued until the store answers
  // (EX_TEMPFAIL: the next pass or `keystone agent run` uploads it).
  queued: 75,
  // Ctrl-C or SIGTERM: the work was stopped and cleaned up (128 + SIGINT, as a shell reports it).
  interrupted: 130,
} as const

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]
