import { formatBytes } from '../../ui/size.js'
import { agentDirOf, defineVerb, withCommonOptions } from './verb.js'

// `keystone agent restore <snapshot> [path] --target DIR`: a snapshot, or one path of it.
interface RestoreArgs {
  snapshot: string
  path?: string
  target: string
  overwrite: boolean
  'keep-partial': boolean
}

export const restore = defineVerb({
  name: 'restore',
  command: 'restore <snapshot> [path]',
  describe: 'Restore a snapshot (`latest` or an id), or one path of it, under a target directory',
  builder: (y) =>
    withCommonOptions(y)
      .positional('snapshot', {
        type: 'string',
        demandOption: true,
        describe: '`latest` or a snapshot id',
      })
      .positional('path', {
        type: 'string',
        describe: 'only this file or directory of the snapshot',
      })
      .option('target', {
        type: 'string',
        demandOption: true,
        describe: 'where to restore (empty or new)',
      })
      .option('overwrite', {
        type: 'boolean',
        default: false,
        describe: 'restore into a non-empty target',
      })
      .option('keep-partial', {
        type: 'boolean',
        default: false,
        describe: 'keep what can be read of a file whose data is damaged, as <name>.partial',
      })
      .example('$0 agent restore latest --target /tmp/r', 'everything, under /tmp/r'),
  options: (args: RestoreArgs) => ({
    agentDir: agentDirOf(args),
    snapshot: args.snapshot,
    target: args.target,
    overwrite: args.overwrite,
    keepPartial: args['keep-partial'],
    ...(args.path !== undefined && { path: args.path }),
  }),
  run: async (options, out) => {
    const [{ withAgent }, { listSnapshots, pickSnapshot }, engine] = await Promise.all([
      import('../../agent/home/agent-home.js'),
      import('../../agent/repository/snapshots.js'),
      import('../../agent/restore/restore.js'),
    ])
    await withAgent(options.agentDir, async ({ repo, settings }) => {
      const chosen = pickSnapshot(await listSnapshots(repo), options.snapshot, settings.label)
      const r = await engine.restore(repo, chosen, {
        target: options.target,
        overwrite: options.overwrite,
        keepPartial: options.keepPartial,
        ...(options.path !== undefined && { include: options.path }),
      })
      out.out(
        `restored ${r.files} files, ${r.dirs} directories, ${r.symlinks} symlinks (${formatBytes(r.bytes)}) from snapshot ${chosen.id.slice(0, 8)} into ${options.target}`,
      )
    })
  },
})
