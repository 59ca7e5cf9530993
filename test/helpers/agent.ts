import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { repoRoot } from './temp-fleet.js'

// Runs `keystone agent …` from the built CLI, as a user would, with its own agent directory.
const mainJs = path.join(repoRoot, 'dist/cli/main.js')

export interface AgentRun {
  code: number
  stdout: string
  stderr: string
}

export function agentArgs(agentDir: string, args: string[]): string[] {
  return [mainJs, 'agent', ...args, '--agent-dir', agentDir]
}

export function spawnAgent(agentDir: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, agentArgs(agentDir, args), {
    env: { ...process.env, KEYSTONE_DEBUG: '', KEYSTONE_AGENT_DIR: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}

export function runAgent(agentDir: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<AgentRun> {
  return new Promise((resolve, reject) => {
    const child = spawnAgent(agentDir, args, env)
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
    child.once('error', reject)
    child.once('close', (code, signal) => resolve({ code: code ?? 128 + (signal === 'SIGKILL' ? 9 : 15), stdout, stderr }))
  })
}

// A new agent directory with a repository in `store` (extra: --endpoint and friends).
export async function initAgent(store: string, extra: string[] = []): Promise<{ agentDir: string; recoveryKey: string }> {
  const base = await mkdtemp(path.join(tmpdir(), 'keystone-agent-'))
  const agentDir = path.join(base, 'agent')
  const recoveryKey = path.join(base, 'recovery.key')
  const r = await runAgent(agentDir, ['init', store, '--write-recovery-key', recoveryKey, '--label', 'test-host', ...extra])
  if (r.code !== 0) throw new Error(`agent init failed (${r.code}): ${r.stderr}`)
  return { agentDir, recoveryKey }
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `keystone-${prefix}-`))
}

// Reproducible pseudo-random bytes (xorshift32).
export function pseudoRandom(seed: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length)
  let x = seed >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out[i] = x & 0xff
  }
  return out
}

// Writes a tree: `files` maps relative paths to contents.
export async function writeTree(root: string, files: Record<string, Buffer | string>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true })
    await writeFile(path.join(root, rel), content)
  }
}

// Everything a restore must reproduce, per relative path: type, mode, size, content hash,
// symlink target and modification time (to the millisecond, what utimes can set).
export function describeTree(root: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const file = path.join(dir, name)
      const rel = path.relative(root, file)
      const st = lstatSync(file)
      const mode = (st.mode & 0o7777).toString(8)
      const mtime = Math.floor(st.mtimeMs)
      if (st.isSymbolicLink()) out[rel] = `symlink ${readlinkSync(file)}`
      else if (st.isDirectory()) {
        out[rel] = `dir ${mode} ${mtime}`
        walk(file)
      } else out[rel] = `file ${mode} ${st.size} ${mtime} ${createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 16)}`
    }
  }
  walk(root)
  return out
}
