import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { writeFileAtomic } from '../fs/write-file-atomic.js'
import type { GeneratedFile } from './render-host.js'

export interface WriteReport {
  written: string[]
  unchanged: string[]
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

// Writes only what differs, so that file times and git stay quiet when nothing changed.
export async function writeGenerated(fleetRoot: string, files: readonly GeneratedFile[]): Promise<WriteReport> {
  const report: WriteReport = { written: [], unchanged: [] }
  for (const file of files) {
    const target = path.join(fleetRoot, file.path)
    if ((await readIfExists(target)) === file.content) {
      report.unchanged.push(file.path)
    } else {
      await writeFileAtomic(target, file.content)
      report.written.push(file.path)
    }
  }
  return report
}

export { readIfExists }
