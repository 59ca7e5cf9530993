import { hostname } from 'node:os'
import { agentDir } from '../config.js'
import { UserError } from '../errors.js'
import { ExitCode } from '../exit-codes.js'
import { processOutput, type Output } from '../ui/output.js'
import { formatBytes } from '../ui/size.js'
import { renderTable } from '../ui/table.js'
import { AgentHome, openAgent, type Agent } from './home/agent-home.js'
import { agentSigningKey } from './home/agent-signing-key.js'
import { queueAuditEvent } from './home/audit-queue.js'
import { publishHeartbeat } from './heartbeat/publish-heartbeat.js'
import { publicKeyString } from '../records/signing-key.js'
import { backup } from './backup/backup.js'
import { IntegrityError } from './repository/crypto/integrity-error.js'
import { runDaemon, type DaemonCounters } from './daemon/daemon.js'
import { daemonFresh, serveMetrics } from './daemon/metrics-server.js'
import { init, type InitOptions } from './init.js'
import { addKey, listKeys, removeKey } from './keys.js'
import { prune } from './maintenance/prune.js'
import { restore } from './restore/restore.js'
import { isEmptyPolicy, type Policy } from './maintenance/retention.js'
import { listSnapshots, pickSnapshot } from './repository/snapshots.js'
import { AgentState } from './home/state.js'
import { agentStatus } from './home/status.js'
import { verify } from './maintenance/verify.js'
import { syncFolder } from './sync/sync-folder.js'
import { StoreUnavailable } from '../store/store.js'

// The handlers of `keystone agent …`: each opens the agent directory, does one thing and
// reports it in a few lines (or JSON). Exit codes: 3 for anything damaged in the store, 75 when
// a backup is safe locally but queued for the store.
// Over 300 lines: a short handler per verb, each of which only wires an engine to the terminal.
export interface AgentArgs {
  agentDir?: string
  output?: Output
}

const homeOf = (args: AgentArgs) => new AgentHome(args.agentDir ?? agentDir())
const short = (name: string) => name.slice(name.lastIndexOf('/') + 1, name.lastIndexOf('/') + 9)

async function withAgent<T>(args: AgentArgs, fn: (agent: Agent) => Promise<T>): Promise<T> {
  const agent = await openAgent(homeOf(args).dir)
  try {
    return await fn(agent)
  } finally {
    agent.state.close()
  }
}

export async function runInit(
  args: AgentArgs &
    Omit<InitOptions, 'showRecoveryKey' | 'terminal' | 'label'> & { label?: string },
) {
  const out = args.output ?? processOutput
  const home = homeOf(args)
  const result = await init(home, {
    ...args,
    label: args.label ?? hostname(),
    terminal: process.stdout.isTTY === true,
    showRecoveryKey: (key, fingerprint) =>
      out.out(
        [
          'Recovery key (shown once; keep it offline, e.g. on paper: with it, every snapshot can be restored if all devices are lost):',
          '',
          `    ${key}`,
          '',
          `Its fingerprint, which \`keystone agent keys\` shows: ${fingerprint}`,
          '',
        ].join('\n'),
      ),
  })
  out.out(
    `${result.created ? 'Created' : 'Joined'} repository ${result.repository.slice(0, 8)} in ${home.readSettings().store}; this device's key is ${home.keyFile()}`,
  )
}

export async function runBackup(
  args: AgentArgs & { paths: string[]; json: boolean },
): Promise<void> {
  const out = args.output ?? processOutput
  await withAgent(args, async (agent) => {
    const result = await backup(agent, { paths: args.paths })
    for (const line of result.skipped) out.err(`skipped ${line}`)
    const s = result.stats
    const { entries: _manifest, ...shown } = result
    if (args.json) out.out(JSON.stringify({ ...shown, snapshot: short(result.snapshot) }, null, 2))
    else
      out.out(
        `snapshot ${short(result.snapshot)} ${result.queued ? 'queued' : 'saved'}: ${s.files} files, ${s.dirs} directories (${formatBytes(s.bytes)}); ${s.readFiles} read, ${formatBytes(s.uploadedBytes)} uploaded in ${s.uploads} objects`,
      )
    if (result.queued)
      throw new UserError(
        `the store is unreachable (${result.offlineReason}): the snapshot is queued on this device`,
        {
          exitCode: ExitCode.queued,
          hint: 'the next backup or `keystone agent run` uploads it when the store answers; `keystone agent status` shows what waits',
        },
      )
  })
}

export interface HeartbeatArgs {
  heartbeat: boolean
  signingKey?: string
  pcrs: number[]
}

export async function runDaemonCommand(
  args: AgentArgs &
    HeartbeatArgs & {
      paths: string[]
      intervalSeconds: number
      retryCapSeconds: number
      watch: boolean
      debounceSeconds: number
      metrics?: string
      twoWay: { path: string; folder?: string }[]
    },
) {
  const out = args.output ?? processOutput
  const log = (line: string) => out.err(`${new Date().toISOString()} ${line}`)
  const controller = new AbortController()
  const stop = () => controller.abort()
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  try {
    await withAgent(args, async (agent) => {
      const key = args.heartbeat ? agentSigningKey(agent.home, args.signingKey, log) : undefined
      const counters: DaemonCounters = { passes: { ok: 0, queued: 0, failed: 0 }, conflicts: 0 }
      const metrics =
        args.metrics === undefined
          ? undefined
          : await serveMetrics(args.metrics, agent.state, counters, 3 * 60_000)
      try {
        await runDaemon(
          agent,
          {
            paths: args.paths,
            intervalMs: args.intervalSeconds * 1000,
            retry: { baseMs: 1000, capMs: args.retryCapSeconds * 1000, attempts: Infinity },
            signal: controller.signal,
            log,
            ...(key !== undefined && {
              heartbeat: (errors) =>
                publishHeartbeat(agent, {
                  key,
                  intervalSeconds: args.intervalSeconds,
                  pcrs: args.pcrs,
                  paths: args.paths,
                  errors,
                }).then(() => undefined),
            }),
            ...(args.watch && { watch: { debounceMs: args.debounceSeconds * 1000 } }),
            twoWay: args.twoWay,
          },
          counters,
        )
      } finally {
        metrics?.close()
      }
    })
  } finally {
    process.off('SIGTERM', stop)
    process.off('SIGINT', stop)
  }
}

// `keystone agent status --check`: the health check of the NixOS module. Only the local state
// is read (no store, no keys): exit 0 while the daemon refreshed its status within `maxAge`.
export function runHealthCheck(args: AgentArgs & { maxAgeSeconds: number }): void {
  const out = args.output ?? processOutput
  const home = homeOf(args)
  home.readSettings()
  const state = new AgentState(home.stateFile)
  try {
    if (!daemonFresh(state, args.maxAgeSeconds * 1000))
      throw new UserError(
        `the agent daemon in ${home.dir} has not reported for more than ${args.maxAgeSeconds} s`,
        { hint: 'it is stopped or hangs; `systemctl status keystone-sync-agent` says which' },
      )
    out.out('the agent daemon is alive')
  } finally {
    state.close()
  }
}

export async function runStatus(args: AgentArgs & { json: boolean }): Promise<void> {
  const out = args.output ?? processOutput
  const report = await agentStatus(homeOf(args))
  if (args.json) return out.out(JSON.stringify(report, null, 2))
  const lines = [
    `store:    ${report.store} (${report.state}${report.offlineReason === undefined ? '' : `: ${report.offlineReason}`})`,
  ]
  const p = report.pending
  lines.push(
    p.objects === 0
      ? 'pending:  nothing'
      : `pending:  ${p.objects} objects, ${formatBytes(p.bytes)}, ${p.snapshots} snapshot${p.snapshots === 1 ? '' : 's'}`,
  )
  if (report.lastBackup !== undefined)
    lines.push(
      `last:     ${report.lastBackup.time} snapshot ${report.lastBackup.snapshot.slice(0, 8)}${report.lastBackup.queued ? ' (queued)' : ''}`,
    )
  if (report.daemon !== undefined)
    lines.push(
      `daemon:   ${report.daemon.state} (pid ${report.daemon.pid}, ${report.daemon.updated})`,
    )
  out.out(lines.join('\n'))
}

export async function runSnapshots(args: AgentArgs & { json: boolean }): Promise<void> {
  const out = args.output ?? processOutput
  await withAgent(args, async ({ repo }) => {
    const all = await listSnapshots(repo)
    if (args.json)
      return out.out(
        JSON.stringify(
          all.map((s) => ({ id: s.id, ...s.snapshot })),
          null,
          2,
        ),
      )
    out.out(
      renderTable(
        ['ID', 'TIME', 'HOST', 'FILES', 'SIZE', 'PATHS'],
        all.map((s) => [
          s.id.slice(0, 8),
          s.snapshot.time.replace(/\.\d+Z$/, 'Z'),
          s.snapshot.host,
          String(s.snapshot.stats.files),
          formatBytes(s.snapshot.stats.bytes),
          s.snapshot.paths.join(' '),
        ]),
      ),
    )
  })
}

export async function runRestore(
  args: AgentArgs & {
    snapshot: string
    path?: string
    target: string
    overwrite: boolean
    keepPartial?: boolean
  },
) {
  const out = args.output ?? processOutput
  await withAgent(args, async ({ repo, settings }) => {
    const chosen = pickSnapshot(await listSnapshots(repo), args.snapshot, settings.label)
    const r = await restore(repo, chosen, {
      target: args.target,
      overwrite: args.overwrite,
      keepPartial: args.keepPartial === true,
      ...(args.path !== undefined && { include: args.path }),
    })
    out.out(
      `restored ${r.files} files, ${r.dirs} directories, ${r.symlinks} symlinks (${formatBytes(r.bytes)}) from snapshot ${chosen.id.slice(0, 8)} into ${args.target}`,
    )
  })
}

export async function runVerify(args: AgentArgs & { readData: boolean }): Promise<void> {
  const out = args.output ?? processOutput
  await withAgent(args, async ({ repo }) => {
    const report = await verify(repo, { readData: args.readData })
    for (const note of report.notes) out.err(`note: ${note}`)
    const c = report.counts
    const summary = `${c.snapshots} snapshots, ${c.indexes} indexes, ${c.packs} packs${args.readData ? ` (${c.readPacks} read)` : ''}, ${c.keys} keys`
    if (report.problems.length === 0) return out.out(`no problems: ${summary}`)
    for (const problem of report.problems) out.err(`damaged: ${problem}`)
    const first = report.problems[0]!
    throw new IntegrityError(
      report.problems.length === 1
        ? first.slice(0, first.indexOf(':'))
        : `${report.problems.length} problems`,
      report.problems.length === 1
        ? first.slice(first.indexOf(':') + 2)
        : `in ${summary}; each is listed above`,
    )
  })
}

export async function runPrune(
  args: AgentArgs & { policy: Policy; dryRun: boolean },
): Promise<void> {
  const out = args.output ?? processOutput
  if (isEmptyPolicy(args.policy))
    throw new UserError('say what to keep', {
      exitCode: ExitCode.usage,
      hint: 'e.g. --keep-last 10 --keep-daily 7 --keep-weekly 4 --keep-monthly 12',
    })
  await withAgent(args, async ({ repo, state, settings }) => {
    const r = await prune(repo, state, args.policy, { dryRun: args.dryRun, label: settings.label })
    out.out(
      `${args.dryRun ? 'would forget' : 'forgot'} ${r.forgotten.length} snapshots (kept ${r.kept}) and ${args.dryRun ? 'delete' : 'deleted'} ${r.deletedPacks} packs (${formatBytes(r.freedBytes)})`,
    )
  })
}

export async function runKeys(
  args: AgentArgs & {
    action: 'list' | 'add' | 'remove'
    recipient?: string
    id?: string
    label?: string
    json: boolean
  },
) {
  const out = args.output ?? processOutput
  await withAgent(args, async ({ repo, home, state }) => {
    const identity = home.readDeviceKey()
    if (args.action === 'add') {
      const k = await addKey(repo, args.recipient!, args.label ?? 'device')
      queueAuditEvent(state, { type: 'key-added', detail: `${k.fingerprint} (${k.label})` })
      return out.out(`added device key ${k.fingerprint} (${k.label})`)
    }
    if (args.action === 'remove') {
      const k = await removeKey(repo, identity, args.id!)
      queueAuditEvent(state, { type: 'key-removed', detail: `${k.fingerprint} (${k.label})` })
      return out.out(`removed device key ${k.fingerprint} (${k.label})`)
    }
    const keys = await listKeys(repo, identity)
    if (args.json) return out.out(JSON.stringify(keys, null, 2))
    out.out(
      renderTable(
        ['FINGERPRINT', 'KIND', 'LABEL', 'CREATED', ''],
        keys.map((k) => [
          k.fingerprint,
          k.kind,
          k.label,
          k.created.slice(0, 10),
          k.thisDevice ? '(this device)' : '',
        ]),
      ),
    )
  })
}

// `keystone agent heartbeat`: one signed heartbeat (and the audit events waiting) now.
export async function runHeartbeat(
  args: AgentArgs & Omit<HeartbeatArgs, 'heartbeat'> & { paths: string[]; intervalSeconds: number },
): Promise<void> {
  const out = args.output ?? processOutput
  await withAgent(args, async (agent) => {
    const key = agentSigningKey(agent.home, args.signingKey, (line) => out.err(line))
    const head = await publishHeartbeat(agent, {
      key,
      intervalSeconds: args.intervalSeconds,
      pcrs: args.pcrs,
      paths: args.paths,
    })
    out.out(
      `heartbeat ${head.seq} of ${agent.settings.label} published to ${agent.store.url}; agent key ${publicKeyString(key)}`,
    )
  })
}

// `keystone agent sync <path>`: one round of a two-way folder (the daemon runs one per pass).
export async function runSync(
  args: AgentArgs & { path: string; folder?: string; settleSeconds: number; json: boolean },
): Promise<void> {
  const out = args.output ?? processOutput
  await withAgent(args, async (agent) => {
    let round
    try {
      round = await syncFolder(agent, {
        root: args.path,
        settleMs: args.settleSeconds * 1000,
        ...(args.folder !== undefined && { folder: args.folder }),
      })
    } catch (error) {
      if (error instanceof StoreUnavailable)
        throw new UserError(
          `the store is unreachable (${error.message}): this folder's changes wait on this device`,
          {
            exitCode: ExitCode.queued,
            hint: 'the next sync or `keystone agent run` merges them when the store answers',
          },
        )
      throw error
    }
    if (args.json) return out.out(JSON.stringify(round, null, 2))
    const parts = [
      round.published === undefined
        ? `in step with head ${round.head}`
        : `published head ${round.published}`,
      `${round.applied} change${round.applied === 1 ? '' : 's'} applied here`,
    ]
    if (round.conflicts.length > 0) parts.push(`conflicts kept as ${round.conflicts.join(', ')}`)
    if (round.deferred.length > 0)
      parts.push(`left for the next round: ${round.deferred.join(', ')}`)
    out.out(`${args.path}: ${parts.join('; ')}`)
  })
}
