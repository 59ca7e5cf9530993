import { formatBytes } from '../../ui/size.js'
import { renderTable } from '../../ui/table.js'
import { agentDirOf, defineVerb, withCommonOptions } from './verb.js'

// `keystone agent snapshots`: the snapshots in the repository, newest last.
export const snapshots = defineVerb({
  name: 'snapshots',
  command: 'snapshots',
  describe: 'List the snapshots in the repository',
  builder: (y) => withCommonOptions(y).option('json', { type: 'boolean', default: false }),
  options: (args: { json: boolean }) => ({ agentDir: agentDirOf(args), json: args.json }),
  run: async (options, out) => {
    const [{ withAgent }, { listSnapshots }] = await Promise.all([
      import('../../agent/home/agent-home.js'),
      import('../../agent/repository/snapshots.js'),
    ])
    await withAgent(options.agentDir, async ({ repo }) => {
      const all = await listSnapshots(repo)
      if (options.json)
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
  },
})
