import type { Argv, CommandModule } from 'yargs'
import { processOutput } from '../../ui/output.js'
import { backup } from './backup.js'
import { heartbeat } from './heartbeat.js'
import { init } from './init.js'
import { keys } from './keys.js'
import { prune } from './prune.js'
import { restore } from './restore.js'
import { run } from './run.js'
import { snapshots } from './snapshots.js'
import { status } from './status.js'
import { sync } from './sync.js'
import type { AgentVerb } from './verb.js'
import { verify } from './verify.js'

// `keystone agent …`: the sync agent on one device — encrypted, deduplicated, versioned backup of
// directories to a folder or an S3 bucket. The one dispatcher of its verbs, each whole in its own
// module (verb.ts says what one holds); the order here is the order of `keystone agent --help`.
type AnyVerb = AgentVerb<any, any> // each verb has its own argument and option types

export const agentVerbs: readonly AnyVerb[] = [
  init,
  backup,
  run,
  status,
  snapshots,
  restore,
  verify,
  prune,
  keys,
  sync,
  heartbeat,
]

// What the dispatcher does with a verb once its options are parsed: run it. Tests pass their own
// to see the options a command line becomes, without running anything.
export type Act = (verb: AnyVerb, options: unknown) => Promise<void> | void
const runVerb: Act = (verb, options) => verb.run(options, processOutput)

export function agentCommand(act: Act = runVerb): CommandModule {
  return {
    command: 'agent <command>',
    describe: 'The sync agent: encrypted, deduplicated, versioned backup to a folder or S3',
    builder: (y: Argv) =>
      agentVerbs
        .reduce(
          (parser, verb) =>
            parser.command({
              command: verb.command,
              describe: verb.describe,
              builder: verb.builder as (y: Argv) => Argv,
              handler: (args) => act(verb, verb.options(args)),
            }),
          y,
        )
        .demandCommand(1, 'name an agent command; see `keystone agent --help`'),
    handler: () => undefined,
  }
}

export const agent = agentCommand()
