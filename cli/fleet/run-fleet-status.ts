import { setTimeout as sleep } from 'node:timers/promises'
import { fleetSeenFile, loadConfig } from '../config.js'
import { UserError } from '../errors.js'
import { ExitCode } from '../exit-codes.js'
import { loadFleet, selectHosts } from '../host/load-fleet.js'
import { processOutput, type Output } from '../ui/output.js'
import { formatBytes } from '../ui/size.js'
import { renderTable } from '../ui/table.js'
import { fleetStatus, type FleetRow } from './fleet-status.js'
import { SeenHeartbeats } from './seen-heartbeats.js'

// `keystone fleet status [host…] [--json] [--watch]`: one row per host. Exit 0 when every host
// with an agent is ok, 3 when a chain is forged, replayed or broken (never confused with a host
// that is merely late), 1 for anything else that needs a look.
export interface FleetStatusArgs {
  hosts: string[]
  json: boolean
  watch: boolean
  intervalSeconds: number
  s3Credentials?: string
  s3Ca?: string
  fleet?: string
  cwd?: string
  seenFile?: string
  output?: Output
  signal?: AbortSignal
}

const TAMPERED = new Set(['forged', 'replayed', 'chain broken'])
const QUIET = new Set(['ok', 'never seen'])

export async function runFleetStatus(args: FleetStatusArgs): Promise<void> {
  const out = args.output ?? processOutput
  const { fleetRoot } = loadConfig(args)
  const hosts = selectHosts(await loadFleet(fleetRoot), args.hosts).map((h) => h.host)
  const seen = new SeenHeartbeats(args.seenFile ?? fleetSeenFile())
  const once = async () => {
    const rows = await fleetStatus({
      fleetRoot,
      hosts,
      seen,
      ...(args.s3Credentials !== undefined && { credentialsFile: args.s3Credentials }),
      ...(args.s3Ca !== undefined && { caFile: args.s3Ca }),
    })
    out.out(args.json ? JSON.stringify(rows, null, 2) : render(rows, new Date()))
    return rows
  }
  const stopped = () => args.signal?.aborted === true
  let rows = await once()
  while (args.watch && !stopped()) {
    await sleep(args.intervalSeconds * 1000, undefined, { signal: args.signal }).catch(
      () => undefined,
    )
    if (stopped()) break
    rows = await once()
  }
  const tampered = rows.filter((r) => TAMPERED.has(r.state))
  if (tampered.length > 0)
    throw new UserError(
      `${tampered.map((r) => `${r.host} (${r.state})`).join(', ')}: heartbeats that do not verify`,
      {
        exitCode: ExitCode.integrity,
        hint: 'someone other than the host wrote into its chain, or rolled the bucket back; the details are above',
      },
    )
  const attention = rows.filter((r) => !QUIET.has(r.state))
  if (attention.length > 0)
    throw new UserError(
      `${attention.map((r) => `${r.host} (${r.state})`).join(', ')} need${attention.length === 1 ? 's' : ''} a look`,
    )
}

function render(rows: FleetRow[], now: Date): string {
  const when = (time: string | undefined) => (time === undefined ? '-' : `${age(now, time)} ago`)
  const table = renderTable(
    [
      'HOST',
      'STATE',
      'LAST SEEN',
      'LAST PASS',
      'PENDING',
      'CONFLICTS',
      'SECURE BOOT',
      'TPM',
      'ENROLLMENT',
    ],
    rows.map((r) => [
      r.host,
      r.state,
      when(r.lastSeen),
      when(r.lastSuccess ?? r.lastPass),
      r.pending === undefined
        ? '-'
        : r.pending.objects === 0
          ? 'none'
          : `${r.pending.objects} (${formatBytes(r.pending.bytes)})`,
      r.conflicts === undefined ? '-' : String(r.conflicts),
      r.secureBoot ?? '-',
      r.tpm ?? '-',
      r.enrollment ?? '-',
    ]),
  )
  const notes = rows.flatMap((r) => [
    ...(r.detail === undefined ? [] : [`${r.host}: ${r.detail}`]),
    ...(r.errors ?? []).map((e) => `${r.host}: agent error: ${e}`),
  ])
  return notes.length === 0 ? table : `${table}\n\n${notes.join('\n')}`
}

function age(now: Date, time: string): string {
  const s = Math.max(0, Math.round((now.getTime() - Date.parse(time)) / 1000))
  if (s < 120) return `${s}s`
  if (s < 7200) return `${Math.round(s / 60)}m`
  if (s < 172_800) return `${Math.round(s / 3600)}h`
  return `${Math.round(s / 86_400)}d`
}
