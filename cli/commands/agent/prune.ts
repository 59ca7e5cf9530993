import { isEmptyPolicy } from '../../agent/maintenance/retention.js'
import { UsageError } from '../../errors.js'
import { formatBytes } from '../../ui/size.js'
import { agentDirOf, defineVerb, withCommonOptions } from './verb.js'

// `keystone agent prune --keep-…`: forget what the policy does not keep, delete what only that
// needed. --dry-run says what would go.
interface PruneArgs {
  'keep-last'?: number
  'keep-hourly'?: number
  'keep-daily'?: number
  'keep-weekly'?: number
  'keep-monthly'?: number
  'dry-run': boolean
}

export const prune = defineVerb({
  name: 'prune',
  command: 'prune',
  describe:
    'Forget snapshots a retention policy does not keep and delete the data only they needed',
  builder: (y) =>
    withCommonOptions(y)
      .option('keep-last', { type: 'number', describe: 'the N newest snapshots' })
      .option('keep-hourly', { type: 'number', describe: 'the newest of each of the last N hours' })
      .option('keep-daily', { type: 'number', describe: 'the newest of each of the last N days' })
      .option('keep-weekly', { type: 'number', describe: 'the newest of each of the last N weeks' })
      .option('keep-monthly', {
        type: 'number',
        describe: 'the newest of each of the last N months',
      })
      .option('dry-run', {
        type: 'boolean',
        default: false,
        describe: 'say what would go, change nothing',
      }),
  options: (args: PruneArgs) => {
    const policy = {
      ...(args['keep-last'] !== undefined && { last: args['keep-last'] }),
      ...(args['keep-hourly'] !== undefined && { hourly: args['keep-hourly'] }),
      ...(args['keep-daily'] !== undefined && { daily: args['keep-daily'] }),
      ...(args['keep-weekly'] !== undefined && { weekly: args['keep-weekly'] }),
      ...(args['keep-monthly'] !== undefined && { monthly: args['keep-monthly'] }),
    }
    if (isEmptyPolicy(policy))
      throw new UsageError(
        'say what to keep',
        'e.g. --keep-last 10 --keep-daily 7 --keep-weekly 4 --keep-monthly 12',
      )
    return { agentDir: agentDirOf(args), policy, dryRun: args['dry-run'] }
  },
  run: async ({ agentDir, policy, dryRun }, out) => {
    const [{ withAgent }, engine] = await Promise.all([
      import('../../agent/home/agent-home.js'),
      import('../../agent/maintenance/prune.js'),
    ])
    await withAgent(agentDir, async ({ repo, state, settings }) => {
      const r = await engine.prune(repo, state, policy, { dryRun, label: settings.label })
      out.out(
        `${dryRun ? 'would forget' : 'forgot'} ${r.forgotten.length} snapshots (kept ${r.kept}) and ${dryRun ? 'delete' : 'deleted'} ${r.deletedPacks} packs (${formatBytes(r.freedBytes)})`,
      )
    })
  },
})
