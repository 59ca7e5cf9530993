// A shell on a target machine, however it is reached: the deploy, enroll and update steps are
// written against this, and `ssh.ts` provides it over SSH. Commands are POSIX `sh` text; input
// such as a passphrase goes through stdin, never into the command line.

export interface RemoteResult {
  code: number
  stdout: string
  stderr: string
}

export interface RunOptions {
  // Written to the command's stdin, which is then closed.
  stdin?: string | Uint8Array
  // The command is abandoned (and reported as failed) after this long.
  timeoutMs?: number
}

export interface RemoteShell {
  // How the target is named in messages: `root@web1 (192.0.2.10:22)`.
  readonly description: string
  run(command: string, options?: RunOptions): Promise<RemoteResult>
}
