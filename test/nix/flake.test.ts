import { execFile } from 'node:child_process'
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { needs } from '../helpers/needs.js'
import { NIX_ENV } from '../helpers/nix.js'

// flake.nix and flake.lock, checked with the real nix offline. Nix reuses a locked input only
// when flake.nix still asks for exactly it (same URL, same follows); anything else makes it fetch,
// which fails here. So a metadata call that succeeds without network proves the lock matches
// flake.nix, and the printed locks must be the committed file unchanged.
const run = promisify(execFile)
const root = path.resolve(import.meta.dirname, '../..')
// What flake.nix reads from the repository.
const flakeFiles = [
  'flake.nix',
  'flake.lock',
  'lib',
  'modules',
  'checks',
  'hosts',
  'package.nix',
  'package.json',
]

async function copyFlake(edit?: (flake: string) => string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'keystone-flake-'))
  for (const entry of flakeFiles)
    await cp(path.join(root, entry), path.join(dir, entry), { recursive: true })
  if (edit !== undefined) {
    const file = path.join(dir, 'flake.nix')
    await writeFile(file, edit(await readFile(file, 'utf8')))
  }
  return dir
}

async function nix(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('nix', args, { env: NIX_ENV, maxBuffer: 64 * 2 ** 20 })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string }
    return {
      code: typeof e.code === 'number' ? e.code : 1,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? '',
    }
  }
}

const lock = JSON.parse(await readFile(path.join(root, 'flake.lock'), 'utf8')) as {
  nodes: Record<string, { locked?: Record<string, unknown>; original?: Record<string, unknown> }>
  root: string
  version: number
}

t.test('every locked input is a GitHub revision with a NAR hash', async (t) => {
  t.equal(lock.version, 7)
  const inputs = Object.entries(lock.nodes).filter(([name]) => name !== lock.root)
  t.ok(inputs.length >= 4)
  for (const [name, node] of inputs) {
    t.equal(node.locked?.type, 'github', `${name} is a github input`)
    t.match(String(node.locked?.rev), /^[0-9a-f]{40}$/, `${name} has a full revision`)
    t.match(
      String(node.locked?.narHash),
      /^sha256-[A-Za-z0-9+/]{43}=$/,
      `${name} has a sha256 NAR hash`,
    )
    t.type(node.locked?.lastModified, 'number', `${name} has lastModified`)
  }
  t.match(
    String(lock.nodes.nixpkgs?.original?.ref),
    /^nixos-\d\d\.\d\d$/,
    'nixpkgs follows a stable NixOS branch',
  )
})

const skip = needs('nix', ['--version'])

t.test('flake.lock is exactly what nix locks for flake.nix (offline)', { skip }, async (t) => {
  const dir = await copyFlake()
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const result = await nix(['flake', 'metadata', '--no-update-lock-file', '--json', `path:${dir}`])
  t.equal(result.code, 0, result.stderr)
  t.same(JSON.parse(result.stdout).locks, lock)
})

t.test('an input flake.lock does not pin is refused (the check can fail)', { skip }, async (t) => {
  const dir = await copyFlake((flake) => flake.replace('nixos-26.05', 'nixos-unstable'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const result = await nix(['flake', 'metadata', '--no-update-lock-file', '--json', `path:${dir}`])
  t.not(result.code, 0)
})

t.test('a changed follows is refused too', { skip }, async (t) => {
  const dir = await copyFlake((flake) =>
    flake.replace('inputs.nixos-stable.follows = "nixpkgs";', ''),
  )
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const result = await nix(['flake', 'metadata', '--no-update-lock-file', '--json', `path:${dir}`])
  t.not(result.code, 0)
})

t.test('the parts of the flake that need no nixpkgs evaluate offline', { skip }, async (t) => {
  const dir = await copyFlake()
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  // getFlake, not `nix eval <flake>#attr`: the latter first tries packages.<system>.attr, which
  // needs nixpkgs.
  const flake = `(builtins.getFlake "path:${dir}")`
  const modules = await nix([
    'eval',
    '--json',
    '--impure',
    '--expr',
    `builtins.attrNames ${flake}.nixosModules`,
  ])
  t.equal(modules.code, 0, modules.stderr)
  t.same(JSON.parse(modules.stdout).sort(), [
    'default',
    'disk',
    'installer',
    'mesh',
    'remote-unlock',
    'roles',
    'secrets',
    'secure-boot',
    'sync-agent',
    'tpm',
    'users',
  ])
  const pcrs = await nix([
    'eval',
    '--json',
    '--impure',
    '--expr',
    `${flake}.lib.tpmPcrsArg [ 7 1 ]`,
  ])
  t.equal(pcrs.code, 0, pcrs.stderr)
  t.equal(JSON.parse(pcrs.stdout), '1+7')
})
