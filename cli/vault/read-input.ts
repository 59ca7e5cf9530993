import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { UserError } from '../errors.js'

// How secret input reaches Keystone: a terminal prompt that does not echo, a file descriptor
// that a script opened (`--passphrase-fd 3 3<file`), or standard input. Never argv and never an
// environment variable, which child processes would inherit and `ps e` shows.

export function readFd(fd: number, what: string): Buffer {
  try {
    return readFileSync(fd)
  } catch (error) {
    throw new UserError(
      `cannot read the ${what} from file descriptor ${fd}: ${(error as Error).message}`,
      {
        hint: `open it for keystone, e.g. \`--passphrase-fd 3 3<passphrase-file\``,
      },
    )
  }
}

// A passphrase from a descriptor ends at its first newline, as a line typed at a prompt does.
export function passphraseFromFd(fd: number): string {
  return readFd(fd, 'passphrase').toString('utf8').split('\n')[0] ?? ''
}

export function isTerminal(): boolean {
  return process.stdin.isTTY === true && process.stderr.isTTY === true
}

// Asks on the terminal without echoing what is typed.
export async function promptHidden(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true })
  const muted = rl as unknown as { _writeToOutput: (s: string) => void }
  process.stderr.write(question)
  muted._writeToOutput = () => {}
  try {
    return await new Promise<string>((resolve) => rl.question('', resolve))
  } finally {
    rl.close()
    process.stderr.write('\n')
  }
}

export async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}
