import yargs from 'yargs'
import { agent } from './commands/agent/agent.js'
import { check } from './commands/check.js'
import { deploy, plan } from './commands/deploy.js'
import { update } from './commands/update.js'
import { enroll } from './commands/enroll.js'
import { fleet } from './commands/fleet.js'
import { generate } from './commands/generate.js'
import { host } from './commands/host.js'
import { rehearse } from './commands/rehearse.js'
import { secrets } from './commands/secrets.js'
import { UsageError } from './errors.js'
import { isDebug } from './config.js'
import { ExitCode } from './exit-codes.js'
import { recordInternalError } from './ui/record-internal-error.js'
import { reportError } from './ui/report-error.js'

// The command line: builds the parser and maps every outcome to an exit code (STYLE.md §1, §8).
// Nothing calls process.exit(), so every `finally` that wipes key material runs.
export function buildParser(argv: string[]) {
  return (
    yargs(argv)
      .scriptName('keystone')
      .usage(
        '$0 <command> [options]\n\nRun a fleet of encrypted, self-healing NixOS machines from one git repository.',
      )
      .command(host)
      .command(generate)
      .command(check)
      .command(secrets)
      .command(plan)
      .command(deploy)
      .command(enroll)
      .command(update)
      .command(agent)
      .command(fleet)
      .command(rehearse)
      .completion('completion', 'Print a bash/zsh completion script (source it from your shell rc)')
      .example('$0 host new web2', 'create hosts/web2.yaml, asking for what is missing')
      .example('$0 generate --all', 'write the Nix for every host')
      .example('$0 check', 'validate host files and generated Nix (CI)')
      .example('$0 deploy web1', 'install web1 over SSH, after showing the plan')
      .example('$0 agent backup ~/Documents', 'back up a directory with the sync agent')
      .example('$0 fleet status', "every host's health from its signed heartbeats")
      .example(
        '$0 secrets set fleet/s3-backup',
        'store a secret, encrypted to the admins and hosts',
      )
      .demandCommand(1, 'name a command; see `keystone --help`')
      .recommendCommands()
      .strict()
      .help()
      .alias('h', 'help')
      .version()
      .wrap(Math.min(110, process.stdout.columns ?? 100))
      // yargs calls this for its own argument errors (no `error`) and for errors thrown by a
      // handler; only the first kind is a usage error.
      .fail((message, error) => {
        throw error ?? new UsageError(message)
      })
  )
}

// Runs the command line `argv` (without node and the script) and returns its exit code; errors
// are reported on stderr as one line and a hint. The binary (main.ts) and the CLI fuzz test both
// come through here.
export async function runCli(argv: string[]): Promise<number> {
  const parser = buildParser(argv)
  const write = (line: string) => process.stderr.write(line + '\n')
  try {
    await parser.parseAsync()
    return ExitCode.ok
  } catch (error) {
    const code = reportError(error, write, isDebug())
    if (code === ExitCode.internal) recordInternalError(error, argv)
    if (error instanceof UsageError && error.hint === undefined) {
      write('  usage: keystone <command> [options] — see `keystone --help`')
    }
    return code
  }
}
