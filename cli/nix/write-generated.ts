import path from 'node:path'
import { FILE_CONCURRENCY, mapLimit } from '../fs/map-limit.js'
import { readIfExists } from '../fs/read-if-exists.js'
import { writeFileAtomic } from '../fs/write-file-atomic.js'
import type { GeneratedFile } from './render-host.js'

export interface WriteReport {
  written: string[]
  unchanged: string[]
}

// Writes only what differs, so that file times and git stay quiet when nothing changed.
export async function writeGenerated(fleetRoot: string, files: readonly GeneratedFile[]): Promise<WriteReport> {
  const changed = await mapLimit(files, FILE_CONCURRENCY, async (file) => {
    const target = path.join(fleetRoot, file.path)
    if (readIfExists(target) === file.content) return false
    await writeFileAtomic(target, file.content)
    return true
  })
  const report: WriteReport = { written: [], unchanged: [] }
  files.forEach((file, i) => (changed[i] ? report.written : report.unchanged).push(file.path))
  return report
}
