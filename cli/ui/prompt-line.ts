import { createInterface } from 'node:readline'

// Asks one question on the terminal and returns the typed line (echoed, unlike a passphrase).
export async function promptLine(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true })
  try {
    return await new Promise<string>((resolve) => rl.question(question, resolve))
  } finally {
    rl.close()
  }
}
