import { UsageError } from '../../errors.js'
import { renderTable } from '../../ui/table.js'
import { agentDirOf, defineVerb, withCommonOptions } from './verb.js'

// `keystone agent keys [list | add <age recipient> | remove <fingerprint>]`: the keys wrapped
// around the repository's master key. Adding and removing are audit events in the heartbeats.
interface KeysArgs {
  action: string
  arg?: string
  label?: string
  json: boolean
}

export const keys = defineVerb({
  name: 'keys',
  command: 'keys [action] [arg]',
  describe:
    'List the keys (and the recovery fingerprint); `add <age recipient>` or `remove <fingerprint>` a device key',
  builder: (y) =>
    withCommonOptions(y)
      .positional('action', { choices: ['list', 'add', 'remove'], default: 'list' })
      .positional('arg', {
        type: 'string',
        describe: 'add: an age recipient (age1…); remove: a key fingerprint',
      })
      .option('label', { type: 'string', describe: 'add: the device it belongs to' })
      .option('json', { type: 'boolean', default: false }),
  options: (args: KeysArgs) => {
    const agentDir = agentDirOf(args)
    if (args.action === 'list') return { action: 'list' as const, agentDir, json: args.json }
    if (args.arg === undefined)
      throw new UsageError(
        `keys ${args.action} needs ${args.action === 'add' ? 'an age recipient' : 'a key fingerprint'}`,
      )
    if (args.action === 'add')
      return {
        action: 'add' as const,
        agentDir,
        recipient: args.arg,
        label: args.label ?? 'device',
      }
    return { action: 'remove' as const, agentDir, fingerprint: args.arg }
  },
  run: async (options, out) => {
    const [{ withAgent }, { queueAuditEvent }, engine] = await Promise.all([
      import('../../agent/home/agent-home.js'),
      import('../../agent/home/audit-queue.js'),
      import('../../agent/keys.js'),
    ])
    await withAgent(options.agentDir, async ({ repo, home, state }) => {
      const identity = home.readDeviceKey()
      if (options.action === 'add') {
        const k = await engine.addKey(repo, options.recipient, options.label)
        queueAuditEvent(state, { type: 'key-added', detail: `${k.fingerprint} (${k.label})` })
        return out.out(`added device key ${k.fingerprint} (${k.label})`)
      }
      if (options.action === 'remove') {
        const k = await engine.removeKey(repo, identity, options.fingerprint)
        queueAuditEvent(state, { type: 'key-removed', detail: `${k.fingerprint} (${k.label})` })
        return out.out(`removed device key ${k.fingerprint} (${k.label})`)
      }
      const keys = await engine.listKeys(repo, identity)
      if (options.json) return out.out(JSON.stringify(keys, null, 2))
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
  },
})
