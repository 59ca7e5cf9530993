import { spawn } from 'node:child_process'
import type { RemoteResult, RemoteShell, RunOptions } from '../../cli/deploy/remote-shell.js'

// The RemoteShell contract on this machine, for testing a remote step's logic without SSH; the
// same steps are also run through a real sshd on loopback (test/helpers/sshd.ts).
export function localShell(env: Record<string, string> = {}): RemoteShell {
  return {
    description: 'this machine (local shell)',
    run: (command: string, options: RunOptions = {}) =>
      new Promise<RemoteResult>((resolve, reject) => {
        const child = spawn('sh', ['-c', command], {
          env: { ...process.env, ...env },
          stdio: ['pipe', 'pipe', 'pipe'],
          ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }),
        })
        let stdout = ''
        let stderr = ''
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
        child.once('error', reject)
        child.once('close', (code, signal) =>
          resolve({ code: code ?? (signal === null ? 1 : 128), stdout, stderr }),
        )
        child.stdin.on('error', () => {})
        child.stdin.end(options.stdin ?? '')
      }),
  }
}
