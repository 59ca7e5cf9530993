import {
  heartbeatOptionsOf,
  withHeartbeatOptions,
  type HeartbeatArgs,
} from './heartbeat-options.js'
import { agentDirOf, defineVerb, parseDuration, withCommonOptions } from './verb.js'

// `keystone agent heartbeat`: one signed heartbeat (and the audit events waiting) now.
export const heartbeat = defineVerb({
  name: 'heartbeat',
  command: 'heartbeat [paths..]',
  describe: 'Publish one signed heartbeat of this host into the store now',
  builder: (y) =>
    withHeartbeatOptions(withCommonOptions(y))
      .positional('paths', {
        type: 'string',
        array: true,
        default: [],
        describe: 'synced paths (free space is read on the first)',
      })
      .option('interval', {
        type: 'string',
        default: '1h',
        describe: 'when the next heartbeat is due',
      }),
  options: (args: HeartbeatArgs & { paths: string[]; interval: string }) => ({
    agentDir: agentDirOf(args),
    paths: args.paths,
    intervalSeconds: parseDuration(args.interval),
    ...heartbeatOptionsOf(args),
  }),
  run: async (options, out) => {
    const [{ withAgent }, { agentSigningKey }, { publishHeartbeat }, { publicKeyString }] =
      await Promise.all([
        import('../../agent/home/agent-home.js'),
        import('../../agent/home/agent-signing-key.js'),
        import('../../agent/heartbeat/publish-heartbeat.js'),
        import('../../records/signing-key.js'),
      ])
    await withAgent(options.agentDir, async (agent) => {
      const key = agentSigningKey(agent.home, options.signingKey, (line) => out.err(line))
      const head = await publishHeartbeat(agent, {
        key,
        intervalSeconds: options.intervalSeconds,
        pcrs: options.pcrs,
        paths: options.paths,
      })
      out.out(
        `heartbeat ${head.seq} of ${agent.settings.label} published to ${agent.store.url}; agent key ${publicKeyString(key)}`,
      )
    })
  },
})
