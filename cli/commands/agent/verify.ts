import { agentDirOf, defineVerb, withCommonOptions } from './verb.js'

// `keystone agent verify [--read-data]`: exit 3 naming every damaged object.
export const verify = defineVerb({
  name: 'verify',
  command: 'verify',
  describe: 'Check the repository; exit 3 naming every damaged object',
  builder: (y) =>
    withCommonOptions(y).option('read-data', {
      type: 'boolean',
      default: false,
      describe: 'also download and check every pack',
    }),
  options: (args: { 'read-data': boolean }) => ({
    agentDir: agentDirOf(args),
    readData: args['read-data'],
  }),
  run: async ({ agentDir, readData }, out) => {
    const [{ withAgent }, engine, { IntegrityError }] = await Promise.all([
      import('../../agent/home/agent-home.js'),
      import('../../agent/maintenance/verify.js'),
      import('../../agent/repository/crypto/integrity-error.js'),
    ])
    await withAgent(agentDir, async ({ repo }) => {
      const report = await engine.verify(repo, { readData })
      for (const note of report.notes) out.err(`note: ${note}`)
      const c = report.counts
      const summary = `${c.snapshots} snapshots, ${c.indexes} indexes, ${c.packs} packs${readData ? ` (${c.readPacks} read)` : ''}, ${c.keys} keys`
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
  },
})
