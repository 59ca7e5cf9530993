import { UserError } from '../../errors.js'
import { formatBytes } from '../../ui/size.js'
import { agentDirOf, defineVerb, parseDuration, withCommonOptions } from './verb.js'

// `keystone agent status`: online or offline, what is queued, the last backup, the daemon.
// With --check it is the NixOS module's health check: only the local state is read (no store, no
// keys), and it exits 0 while the daemon refreshed its status within --max-age.
export const status = defineVerb({
  name: 'status',
  command: 'status',
  describe: 'Online or offline, what is queued, the last backup, the daemon',
  builder: (y) =>
    withCommonOptions(y)
      .option('json', { type: 'boolean', default: false })
      .option('check', {
        type: 'boolean',
        default: false,
        describe: 'health check: exit 0 only while the daemon reported within --max-age',
      })
      .option('max-age', { type: 'string', default: '3m', describe: 'with --check' }),
  options: (args: { json: boolean; check: boolean; 'max-age': string }) => ({
    agentDir: agentDirOf(args),
    json: args.json,
    ...(args.check && { checkMaxAgeSeconds: parseDuration(args['max-age']) }),
  }),
  run: async (options, out) => {
    const { AgentHome } = await import('../../agent/home/agent-home.js')
    const home = new AgentHome(options.agentDir)
    if (options.checkMaxAgeSeconds !== undefined) {
      const [{ AgentState }, { daemonFresh }] = await Promise.all([
        import('../../agent/home/state.js'),
        import('../../agent/daemon/metrics-server.js'),
      ])
      home.readSettings()
      const state = new AgentState(home.stateFile)
      try {
        if (!daemonFresh(state, options.checkMaxAgeSeconds * 1000))
          throw new UserError(
            `the agent daemon in ${home.dir} has not reported for more than ${options.checkMaxAgeSeconds} s`,
            { hint: 'it is stopped or hangs; `systemctl status keystone-sync-agent` says which' },
          )
        return out.out('the agent daemon is alive')
      } finally {
        state.close()
      }
    }
    const { agentStatus } = await import('../../agent/home/status.js')
    const report = await agentStatus(home)
    if (options.json) return out.out(JSON.stringify(report, null, 2))
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
  },
})
