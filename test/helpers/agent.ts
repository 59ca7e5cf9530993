import { spawn, type ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
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

export function spawnAgent(
  agentDir: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): ChildProcess {
  return spawn(process.execPath, agentArgs(agentDir, args), {
    env: { ...process.env, KEYSTONE_DEBUG: '', KEYSTONE_AGENT_DIR: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}

export function runAgent(
  agentDir: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<AgentRun> {
  return new Promise((resolve, reject) => {
    const child = spawnAgent(agentDir, args, env)
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
    child.once('error', reject)
    child.once('close', (code, signal) =>
      resolve({ code: code ?? 128 + (signal === 'SIGKILL' ? 9 : 15), stdout, stderr }),
    )
  })
}

// Every directory made here (agent directories hold keys and recovery keys) goes when the test
// process exits, whether or not the test removed it itself.
const made: string[] = []
process.once('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true })
})

async function madeDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix))
  made.push(dir)
  return dir
}

// A new agent directory with a repository in `store` (extra: --endpoint and friends).
export async function initAgent(
  store: string,
  extra: string[] = [],
): Promise<{ agentDir: string; recoveryKey: string }> {
  const base = await madeDir('keystone-agent-')
  const agentDir = path.join(base, 'agent')
  const recoveryKey = path.join(base, 'recovery.key')
  const r = await runAgent(agentDir, [
    'init',
    store,
    '--write-recovery-key',
    recoveryKey,
    '--label',
    'test-host',
    ...extra,
  ])
  if (r.code !== 0) throw new Error(`agent init failed (${r.code}): ${r.stderr}`)
  return { agentDir, recoveryKey }
}

export async function tempDir(prefix: string): Promise<string> {
  return madeDir(`keystone-${prefix}-`)
}

export { describeTree, pseudoRandom, writeTree } from '../../bench/lib/tree.mjs'
