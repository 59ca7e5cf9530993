import { execa } from 'execa'
import { UserError } from '../errors.js'

// The one door to local programs (STYLE.md §5): ssh-keygen, openssl, git and nix are run through
// execa with an argument array, never a shell, and never with a secret in argv. A missing
// program or a failure becomes one line naming it.
export async function runTool(
  file: string,
  args: string[],
  options: { cwd?: string; input?: string; signal?: AbortSignal } = {},
): Promise<string> {
  try {
    const result = await execa(file, args, {
      ...(options.cwd !== undefined && { cwd: options.cwd }),
      ...(options.input !== undefined && { input: options.input }),
      ...(options.signal !== undefined && { cancelSignal: options.signal }),
      stdin: options.input === undefined ? 'ignore' : 'pipe',
      stripFinalNewline: true,
    })
    return result.stdout
  } catch (error) {
    const failure = error as {
      code?: string
      exitCode?: number
      stderr?: string
      isCanceled?: boolean
    }
    if (failure.isCanceled === true) throw error
    if (failure.code === 'ENOENT')
      throw new UserError(`\`${file}\` is not installed on this machine`, {
        hint: `install it (Debian: ${PACKAGES[file] ?? file}) or run Keystone from \`nix develop\``,
      })
    const last = (failure.stderr ?? '').trim().split('\n').at(-1) ?? ''
    throw new UserError(
      `\`${file} ${args[0] ?? ''}\` failed (exit ${failure.exitCode ?? '?'}): ${last}`,
    )
  }
}

const PACKAGES: Record<string, string> = {
  'ssh-keygen': 'openssh-client',
  openssl: 'openssl',
  git: 'git',
  nix: 'nix-bin',
}
