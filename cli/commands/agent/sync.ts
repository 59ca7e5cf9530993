import { UserError } from '../../errors.js'
import { ExitCode } from '../../exit-codes.js'
import { agentDirOf, defineVerb, parseDuration, withCommonOptions } from './verb.js'

// `keystone agent sync <path>`: one round of a two-way folder (the daemon runs one per pass).
export const sync = defineVerb({
  name: 'sync',
  command: 'sync <path>',
  describe: 'One round of two-way sync of a folder with the other devices (merge, apply, publish)',
  builder: (y) =>
    withCommonOptions(y)
      .positional('path', { type: 'string', demandOption: true })
      .option('folder', {
        type: 'string',
        describe: 'the name the devices share for this folder (default: its path)',
      })
      .option('settle', {
        type: 'string',
        default: '2s',
        describe: 'files modified this recently are left for the next round',
      })
      .option('json', { type: 'boolean', default: false }),
  options: (args: { path: string; folder?: string; settle: string; json: boolean }) => ({
    agentDir: agentDirOf(args),
    path: args.path,
    settleSeconds: parseDuration(args.settle),
    json: args.json,
    ...(args.folder !== undefined && { folder: args.folder }),
  }),
  run: async (options, out) => {
    const [{ withAgent }, { syncFolder }, { StoreUnavailable }] = await Promise.all([
      import('../../agent/home/agent-home.js'),
      import('../../agent/sync/sync-folder.js'),
      import('../../store/store.js'),
    ])
    await withAgent(options.agentDir, async (agent) => {
      let round
      try {
        round = await syncFolder(agent, {
          root: options.path,
          settleMs: options.settleSeconds * 1000,
          ...(options.folder !== undefined && { folder: options.folder }),
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
      if (options.json) return out.out(JSON.stringify(round, null, 2))
      const parts = [
        round.published === undefined
          ? `in step with head ${round.head}`
          : `published head ${round.published}`,
        `${round.applied} change${round.applied === 1 ? '' : 's'} applied here`,
      ]
      if (round.conflicts.length > 0) parts.push(`conflicts kept as ${round.conflicts.join(', ')}`)
      if (round.deferred.length > 0)
        parts.push(`left for the next round: ${round.deferred.join(', ')}`)
      out.out(`${options.path}: ${parts.join('; ')}`)
    })
  },
})
