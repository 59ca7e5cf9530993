import { UserError } from '../../errors.js'
import { ExitCode } from '../../exit-codes.js'
import { formatBytes } from '../../ui/size.js'
import { agentDirOf, defineVerb, shortId, withCommonOptions } from './verb.js'

// `keystone agent backup <paths..>`: one pass, then exit; 75 when the snapshot is safe on this
// device but queued for the store.
export const backup = defineVerb({
  name: 'backup',
  command: 'backup <paths..>',
  describe:
    'One backup pass of these directories, then exit (75 if the store was unreachable and the snapshot is queued)',
  builder: (y) =>
    withCommonOptions(y)
      .positional('paths', { type: 'string', array: true, demandOption: true })
      .option('json', { type: 'boolean', default: false }),
  options: (args: { paths: string[]; json: boolean }) => ({
    agentDir: agentDirOf(args),
    paths: args.paths,
    json: args.json,
  }),
  run: async ({ agentDir, paths, json }, out) => {
    const [{ withAgent }, engine] = await Promise.all([
      import('../../agent/home/agent-home.js'),
      import('../../agent/backup/backup.js'),
    ])
    await withAgent(agentDir, async (agent) => {
      const result = await engine.backup(agent, { paths })
      for (const line of result.skipped) out.err(`skipped ${line}`)
      const s = result.stats
      const { entries: _manifest, ...shown } = result
      if (json) out.out(JSON.stringify({ ...shown, snapshot: shortId(result.snapshot) }, null, 2))
      else
        out.out(
          `snapshot ${shortId(result.snapshot)} ${result.queued ? 'queued' : 'saved'}: ${s.files} files, ${s.dirs} directories (${formatBytes(s.bytes)}); ${s.readFiles} read, ${formatBytes(s.uploadedBytes)} uploaded in ${s.uploads} objects`,
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
  },
})
