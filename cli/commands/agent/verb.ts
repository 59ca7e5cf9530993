import type { Argv } from 'yargs'
import { agentDir } from '../../config.js'
import { UsageError } from '../../errors.js'
import type { Output } from '../../ui/output.js'

// One verb of `keystone agent …`, whole in one module: its options and help (`builder`), the pure
// step from parsed argv to what `run` takes (`options`, tested as data in
// test/commands/agent-verbs.test.ts), and `run`, which loads the agent's engines lazily so that
// `keystone --help` never loads SQLite or the repository code. agent.ts is the one dispatcher.
export interface AgentVerb<Args, Options> {
  name: string
  command: string
  describe: string
  builder: (y: Argv) => Argv
  options: (args: Args) => Options
  run: (options: Options, out: Output) => Promise<void> | void
}

export interface CommonArgs {
  'agent-dir'?: string
}

// Lets a verb's `Args` and `Options` be inferred from its own functions.
export const defineVerb = <Args, Options>(verb: AgentVerb<Args, Options>) => verb

export const withCommonOptions = (y: Argv): Argv =>
  y.option('agent-dir', {
    type: 'string',
    describe:
      'the agent directory (default: $KEYSTONE_AGENT_DIR, else ~/.local/state/keystone/agent)',
  })

// The agent directory a verb works in, resolved at parse time so the options say which. Every
// verb has --agent-dir (withCommonOptions), so its own argument types need not repeat it.
export const agentDirOf = (args: object): string => (args as CommonArgs)['agent-dir'] ?? agentDir()

// "90", "90s", "15m", "6h", "1d" → seconds.
export function parseDuration(text: string): number {
  const m = /^(\d+)\s*([smhd]?)$/.exec(text.trim())
  if (m === null)
    throw new UsageError(`"${text}" is not a duration`, 'write e.g. 30s, 15m, 1h or 1d')
  return (
    Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd']
  )
}

// The first 8 hex digits of an object name (`snapshots/<id>` → `<id>`'s first 8).
export const shortId = (name: string) =>
  name.slice(name.lastIndexOf('/') + 1, name.lastIndexOf('/') + 9)
