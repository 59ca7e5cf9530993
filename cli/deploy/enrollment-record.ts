import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { writeFileAtomic } from '../fs/write-file-atomic.js'

// What `keystone enroll` bound the host to, in git beside its host file (hosts/<name>/
// enrollment.json): fleet status compares the host's reported PCRs with these values.
export interface EnrollmentRecord {
  enrolledAt: string
  pcrBank: 'sha256'
  pcrs: Record<string, string>
  secureBoot: string
}

const recordFile = (fleetRoot: string, host: string) => path.join(fleetRoot, 'hosts', host, 'enrollment.json')

export async function writeEnrollmentRecord(fleetRoot: string, host: string, record: EnrollmentRecord): Promise<void> {
  const ordered: EnrollmentRecord = {
    enrolledAt: record.enrolledAt,
    pcrBank: record.pcrBank,
    pcrs: Object.fromEntries(Object.entries(record.pcrs).sort(([a], [b]) => Number(a) - Number(b))),
    secureBoot: record.secureBoot,
  }
  await writeFileAtomic(recordFile(fleetRoot, host), JSON.stringify(ordered, null, 2) + '\n')
}

export function readEnrollmentRecord(fleetRoot: string, host: string): EnrollmentRecord | undefined {
  const file = recordFile(fleetRoot, host)
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as EnrollmentRecord) : undefined
}
