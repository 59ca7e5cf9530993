// Every exit code Keystone uses, in one place (STYLE.md §8). Scripts may rely on these.
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  // Tampered, forged or truncated data: never confused with an ordinary failure.
  integrity: 3,
  internal: 70,
} as const

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]
