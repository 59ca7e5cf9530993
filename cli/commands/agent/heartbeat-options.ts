import type { Argv } from 'yargs'

// The options `agent run` and `agent heartbeat` share: which key signs, which PCRs are reported.
export interface HeartbeatArgs {
  'signing-key'?: string
  pcr: number[]
}

export const withHeartbeatOptions = (y: Argv): Argv =>
  y
    .option('signing-key', {
      type: 'string',
      describe:
        'Ed25519 key (PKCS#8 PEM) to sign heartbeats with (default: the systemd credential agent-signing-key, else signing.key in the agent directory, made on first use)',
    })
    .option('pcr', {
      type: 'number',
      array: true,
      default: [1, 7],
      describe: 'PCRs to report (those the credstore is bound to)',
    })

export const heartbeatOptionsOf = (args: HeartbeatArgs) => ({
  pcrs: args.pcr,
  ...(args['signing-key'] !== undefined && { signingKey: args['signing-key'] }),
})
