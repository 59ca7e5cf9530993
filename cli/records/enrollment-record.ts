import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { UserError } from '../errors.js'
import { writeFileAtomic } from '../fs/write-file-atomic.js'

// What `keystone enroll` bound the host to, in git beside its host file
// (hosts/<name>/enrollment.json): fleet status compares the PCR values the host reports with
// these. Written with a fixed key order and a trailing newline, so that a re-enroll that changes
// nothing leaves no diff.
export interface EnrollmentRecord {
  // ISO 8601, UTC.
  enrolledAt: string
  pcrBank: 'sha256'
  // PCR index → lowercase hex, as read at enroll.
  pcrs: Record<number, string>
  // As `bootctl status` put it: `enabled (user)`, `disabled`, …
  secureBoot: string
  // The --tpm2-device the credstore was enrolled with: `auto` on a host.
  tpm2Device?: string
}

export const enrollmentRecordFile = (fleetRoot: string, hostName: string) =>
  path.join(fleetRoot, 'hosts', hostName, 'enrollment.json')

export function renderEnrollmentRecord(record: EnrollmentRecord): string {
  const ordered = {
    enrolledAt: record.enrolledAt,
    pcrBank: record.pcrBank,
    pcrs: Object.fromEntries(
      Object.entries(record.pcrs)
        .sort(([a], [b]) => Number(a) - Number(b))
        .map(([pcr, value]) => [pcr, value.toLowerCase()]),
    ),
    secureBoot: record.secureBoot,
    ...(record.tpm2Device === undefined ? {} : { tpm2Device: record.tpm2Device }),
  }
  return JSON.stringify(ordered, null, 2) + '\n'
}

export async function writeEnrollmentRecord(
  fleetRoot: string,
  hostName: string,
  record: EnrollmentRecord,
): Promise<void> {
  await writeFileAtomic(enrollmentRecordFile(fleetRoot, hostName), renderEnrollmentRecord(record))
}

// undefined when the host was never enrolled.
export function readEnrollmentRecord(
  fleetRoot: string,
  hostName: string,
): EnrollmentRecord | undefined {
  const file = enrollmentRecordFile(fleetRoot, hostName)
  if (!existsSync(file)) return undefined
  const where = path.relative(fleetRoot, file)
  let value: Partial<EnrollmentRecord>
  try {
    value = JSON.parse(readFileSync(file, 'utf8')) as Partial<EnrollmentRecord>
  } catch (error) {
    throw new UserError(`${where} is not valid JSON: ${(error as Error).message}`, {
      hint: `restore it from git, or run \`keystone enroll ${hostName}\` again`,
    })
  }
  const pcrsValid =
    typeof value.pcrs === 'object' &&
    value.pcrs !== null &&
    Object.entries(value.pcrs).every(
      ([pcr, hex]) =>
        /^\d{1,2}$/.test(pcr) && typeof hex === 'string' && /^[0-9a-f]{64}$/.test(hex),
    )
  if (
    typeof value.enrolledAt !== 'string' ||
    value.pcrBank !== 'sha256' ||
    !pcrsValid ||
    typeof value.secureBoot !== 'string'
  )
    throw new UserError(
      `${where}: expected { enrolledAt, pcrBank: "sha256", pcrs: { "<n>": "<64 hex>" }, secureBoot }`,
      { hint: `restore it from git, or run \`keystone enroll ${hostName}\` again` },
    )
  return value as EnrollmentRecord
}
