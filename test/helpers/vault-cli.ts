import { execFile, spawn } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { repoRoot, tempFleet } from './temp-fleet.js'

const mainJs = path.join(repoRoot, 'dist/cli/main.js')
const execFileAsync = promisify(execFile)

export interface VaultRun {
  code: number
  stdout: Buffer
  stderr: string
}

// Runs the built CLI with bytes on standard input and, optionally, on file descriptor 3 (how a
// script hands over a passphrase), in a fleet with its own XDG_CONFIG_HOME.
export function runKeystone(
  args: string[],
  options: {
    cwd: string
    config: string
    stdin?: string | Buffer
    fd3?: string
    env?: NodeJS.ProcessEnv
  },
): Promise<VaultRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [mainJs, ...args], {
      cwd: options.cwd,
      env: {
        ...process.env,
        XDG_CONFIG_HOME: options.config,
        KEYSTONE_DEBUG: '',
        KEYSTONE_FLEET: '',
        ...options.env,
      },
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    })
    const stdout: Buffer[] = []
    let stderr = ''
    child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk))
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('error', reject)
    child.on('close', (code) =>
      resolve({ code: code ?? -1, stdout: Buffer.concat(stdout), stderr }),
    )
    const fd3 = child.stdio[3] as NodeJS.WritableStream
    fd3.on('error', () => {})
    fd3.end(options.fd3 ?? '')
    child.stdin!.on('error', () => {})
    child.stdin!.end(options.stdin ?? '')
  })
}

// A fleet copy, a private config directory and a private in-memory runtime directory for one
// test. The runtime directory keeps the test's decrypted copies apart from those of tests running
// beside it, whose `keystone secrets …` would otherwise sweep them from the shared /dev/shm.
export async function vaultFixture(t: { teardown(fn: () => Promise<void>): void }) {
  const fleet = await tempFleet(t)
  const config = await mkdtemp(path.join(tmpdir(), 'keystone-config-'))
  t.teardown(() => rm(config, { recursive: true, force: true }))
  const memory = await mkdtemp('/dev/shm/test-keystone-runtime-')
  t.teardown(() => rm(memory, { recursive: true, force: true }))
  const run = (args: string[], options: { stdin?: string | Buffer; fd3?: string } = {}) =>
    runKeystone(args, { cwd: fleet, config, env: { XDG_RUNTIME_DIR: memory }, ...options })
  return { fleet, config, memory, run }
}

// A fleet whose vault is initialised for admin alice with a plain age identity file (made by the
// real age-keygen), the fast path every test but the passphrase ones uses.
export async function vaultWithAdmin(t: { teardown(fn: () => Promise<void>): void }) {
  const fixture = await vaultFixture(t)
  return { ...fixture, ...(await initVault(fixture.run, path.join(fixture.fleet, 'alice.key'))) }
}

// `secrets init` for admin alice in the fleet `run` works in, with an identity made by the real
// age-keygen at `key`; `get` decrypts with it.
export async function initVault(
  run: (args: string[], options?: { stdin?: string | Buffer }) => Promise<VaultRun>,
  key: string,
) {
  await execFileAsync('age-keygen', ['-o', key])
  const init = await run(['secrets', 'init', '--admin', 'alice', '--identity', key])
  if (init.code !== 0) throw new Error(`secrets init failed: ${init.stderr}`)
  const get = async (secret: string) =>
    (await run(['secrets', 'get', secret, '--identity', key])).stdout.toString()
  return { key, get }
}
