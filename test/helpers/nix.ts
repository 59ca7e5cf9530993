import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

// Nix as the tests run it: offline, no daemon, no substituters (scripts/configure-nix-offline.sh
// does the same for the machine). Set per process so a developer's own nix.conf cannot interfere.
export const NIX_ENV = {
  ...process.env,
  NIX_CONFIG: ['build-users-group =', 'experimental-features = nix-command flakes', 'substituters ='].join('\n'),
}

export async function nixEvalJson(file: string): Promise<unknown> {
  const { stdout } = await run('nix-instantiate', ['--eval', '--strict', '--json', file], {
    env: NIX_ENV,
    maxBuffer: 256 * 2 ** 20,
  })
  return JSON.parse(stdout)
}

export async function nixParse(file: string): Promise<void> {
  await run('nix-instantiate', ['--parse', file], { env: NIX_ENV, maxBuffer: 256 * 2 ** 20 })
}

// Evaluates Nix text through a file in a private temporary directory, removed afterwards.
export async function evalNixText(text: string): Promise<unknown> {
  const dir = await mkdtemp(path.join(tmpdir(), 'keystone-nix-'))
  try {
    const file = path.join(dir, 'value.nix')
    await writeFile(file, text)
    return await nixEvalJson(file)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
