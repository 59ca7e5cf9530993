import type { DaemonCounters } from '../../agent/daemon/daemon.js'
import { UsageError } from '../../errors.js'
import {
  heartbeatOptionsOf,
  withHeartbeatOptions,
  type HeartbeatArgs,
} from './heartbeat-options.js'
import { agentDirOf, defineVerb, parseDuration, withCommonOptions } from './verb.js'

// `keystone agent run [paths..]`: the daemon. A backup pass (and a round of every two-way folder)
// every interval; while the store is down, retries with backoff. SIGTERM/SIGINT stop it between
// steps.
interface RunArgs extends HeartbeatArgs {
  paths: string[]
  interval: string
  'retry-cap': string
  heartbeat: boolean
  'two-way': string[]
  watch: boolean
  debounce: string
  metrics?: string
}

// `path` or `path=name`: the name the devices share when they keep the folder at different paths.
const twoWayFolder = (spec: string) => {
  const at = spec.lastIndexOf('=')
  return at === -1 ? { path: spec } : { path: spec.slice(0, at), folder: spec.slice(at + 1) }
}

export const run = defineVerb({
  name: 'run',
  command: 'run [paths..]',
  describe: 'The daemon: a backup pass every interval; while the store is down, retry with backoff',
  builder: (y) =>
    withHeartbeatOptions(withCommonOptions(y))
      .positional('paths', { type: 'string', array: true, default: [] })
      .option('interval', { type: 'string', default: '1h', describe: 'time between passes' })
      .option('retry-cap', {
        type: 'string',
        default: '5m',
        describe: 'longest wait between upload attempts',
      })
      .option('two-way', {
        type: 'string',
        array: true,
        default: [],
        describe:
          'a folder to keep in two-way sync with the other devices (repeatable; path, or path=name when devices keep it at different paths)',
      })
      .option('watch', {
        type: 'boolean',
        default: false,
        describe: 'also start a pass soon after files change (the scan every interval still runs)',
      })
      .option('debounce', {
        type: 'string',
        default: '2s',
        describe: 'with --watch: how long changes must be quiet before a pass',
      })
      .option('metrics', {
        type: 'string',
        describe:
          'serve Prometheus metrics and /healthz on this loopback address, e.g. 127.0.0.1:9464',
      })
      .option('heartbeat', {
        type: 'boolean',
        default: false,
        describe:
          'publish a signed heartbeat into the store after each pass (keystone fleet status reads them)',
      }),
  options: (args: RunArgs) => {
    if (args.paths.length === 0 && args['two-way'].length === 0)
      throw new UsageError(
        'name a path to back up or a --two-way folder',
        'e.g. keystone agent run ~/Documents --two-way ~/Shared',
      )
    return {
      agentDir: agentDirOf(args),
      paths: args.paths,
      twoWay: args['two-way'].map(twoWayFolder),
      intervalSeconds: parseDuration(args.interval),
      retryCapSeconds: parseDuration(args['retry-cap']),
      heartbeat: args.heartbeat,
      watch: args.watch,
      debounceSeconds: parseDuration(args.debounce),
      ...(args.metrics !== undefined && { metrics: args.metrics }),
      ...heartbeatOptionsOf(args),
    }
  },
  run: async (options, out) => {
    const [{ withAgent }, { agentSigningKey }, { publishHeartbeat }, daemon, metricsServer] =
      await Promise.all([
        import('../../agent/home/agent-home.js'),
        import('../../agent/home/agent-signing-key.js'),
        import('../../agent/heartbeat/publish-heartbeat.js'),
        import('../../agent/daemon/daemon.js'),
        import('../../agent/daemon/metrics-server.js'),
      ])
    const log = (line: string) => out.err(`${new Date().toISOString()} ${line}`)
    const controller = new AbortController()
    const stop = () => controller.abort()
    process.once('SIGTERM', stop)
    process.once('SIGINT', stop)
    try {
      await withAgent(options.agentDir, async (agent) => {
        const key = options.heartbeat
          ? agentSigningKey(agent.home, options.signingKey, log)
          : undefined
        const counters: DaemonCounters = {
          passes: { ok: 0, queued: 0, failed: 0 },
          conflicts: 0,
        }
        const metrics =
          options.metrics === undefined
            ? undefined
            : await metricsServer.serveMetrics(options.metrics, agent.state, counters, 3 * 60_000)
        try {
          await daemon.runDaemon(
            agent,
            {
              paths: options.paths,
              intervalMs: options.intervalSeconds * 1000,
              retry: { baseMs: 1000, capMs: options.retryCapSeconds * 1000, attempts: Infinity },
              signal: controller.signal,
              log,
              ...(key !== undefined && {
                heartbeat: (errors) =>
                  publishHeartbeat(agent, {
                    key,
                    intervalSeconds: options.intervalSeconds,
                    pcrs: options.pcrs,
                    paths: options.paths,
                    errors,
                  }).then(() => undefined),
              }),
              ...(options.watch && { watch: { debounceMs: options.debounceSeconds * 1000 } }),
              twoWay: options.twoWay,
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
  },
})
