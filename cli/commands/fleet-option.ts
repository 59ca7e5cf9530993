import type { Options } from 'yargs'

// `--fleet`, shared by every command that reads hosts/.
export const fleetOption: Options = {
  type: 'string',
  describe: 'fleet repository root (default: nearest directory with hosts/, or $KEYSTONE_FLEET)',
}
