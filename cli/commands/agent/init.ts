import { hostname } from 'node:os'
import { agentDirOf, defineVerb, withCommonOptions } from './verb.js'

// `keystone agent init <store>`: create a repository, or join the one in the store.
interface InitArgs {
  store: string
  endpoint?: string
  region?: string
  'path-style'?: boolean
  's3-credentials'?: string
  's3-ca'?: string
  label?: string
  compression: boolean
  'recovery-key-file'?: string
  'device-key-file'?: string
  'write-recovery-key'?: string
}

export const init = defineVerb({
  name: 'init',
  command: 'init <store>',
  describe: 'Create a repository (prints its recovery key once) or join one with the recovery key',
  builder: (y) =>
    withCommonOptions(y)
      .positional('store', {
        type: 'string',
        demandOption: true,
        describe: 'file:///path or s3://bucket/prefix',
      })
      .option('endpoint', {
        type: 'string',
        describe: 'S3 endpoint URL (MinIO, SeaweedFS, Garage); AWS when absent',
      })
      .option('region', { type: 'string', describe: 'S3 region (default us-east-1)' })
      .option('path-style', {
        type: 'boolean',
        describe: 'path-style S3 URLs (default: on with --endpoint)',
      })
      .option('s3-credentials', {
        type: 'string',
        describe:
          'file with AWS_ACCESS_KEY_ID=… and AWS_SECRET_ACCESS_KEY=… (default: the systemd credential s3-credentials, then the environment)',
      })
      .option('s3-ca', {
        type: 'string',
        describe:
          "https: the certificate (PEM) of the CA that signed the server's certificate, trusted besides the system's",
      })
      .option('label', {
        type: 'string',
        describe: 'this device in snapshots and key lists (default: the host name)',
      })
      .option('compression', {
        type: 'boolean',
        default: true,
        describe: 'compress chunks that compress',
      })
      .option('recovery-key-file', {
        type: 'string',
        describe: 'join the repository already in the store with this recovery key',
      })
      .option('device-key-file', {
        type: 'string',
        describe:
          "join with this device's own age key, which an admin added (`keystone agent keys add`); it stays where it is",
        conflicts: 'recovery-key-file',
      })
      .option('write-recovery-key', {
        type: 'string',
        describe: 'without a terminal: write the new recovery key to this new file',
      })
      .example('$0 agent init file:///mnt/backup', 'a repository on an external disk')
      .example(
        '$0 agent init s3://backups/web1 --endpoint http://127.0.0.1:9000 --s3-credentials ~/.s3',
        'on MinIO',
      )
      .example(
        '$0 agent init s3://backups/web1 --endpoint https://s3.lan:8333 --s3-ca /etc/ssl/lan-ca.pem',
        'on SeaweedFS over TLS, its certificate signed by a private CA',
      ),
  options: (args: InitArgs) => ({
    agentDir: agentDirOf(args),
    store: args.store,
    compression: args.compression,
    ...(args.endpoint !== undefined && { endpoint: args.endpoint }),
    ...(args.region !== undefined && { region: args.region }),
    ...(args['path-style'] !== undefined && { pathStyle: args['path-style'] }),
    ...(args['s3-credentials'] !== undefined && { credentialsFile: args['s3-credentials'] }),
    ...(args['s3-ca'] !== undefined && { caFile: args['s3-ca'] }),
    ...(args.label !== undefined && { label: args.label }),
    ...(args['recovery-key-file'] !== undefined && {
      recoveryKeyFile: args['recovery-key-file'],
    }),
    ...(args['device-key-file'] !== undefined && { deviceKeyFile: args['device-key-file'] }),
    ...(args['write-recovery-key'] !== undefined && {
      writeRecoveryKey: args['write-recovery-key'],
    }),
  }),
  run: async ({ agentDir, label, ...options }, out) => {
    const [{ AgentHome }, engine] = await Promise.all([
      import('../../agent/home/agent-home.js'),
      import('../../agent/init.js'),
    ])
    const home = new AgentHome(agentDir)
    const result = await engine.init(home, {
      ...options,
      label: label ?? hostname(),
      terminal: process.stdout.isTTY === true,
      showRecoveryKey: (key, fingerprint) =>
        out.out(
          [
            'Recovery key (shown once; keep it offline, e.g. on paper: with it, every snapshot can be restored if all devices are lost):',
            '',
            `    ${key}`,
            '',
            `Its fingerprint, which \`keystone agent keys\` shows: ${fingerprint}`,
            '',
          ].join('\n'),
        ),
    })
    out.out(
      `${result.created ? 'Created' : 'Joined'} repository ${result.repository.slice(0, 8)} in ${home.readSettings().store}; this device's key is ${home.keyFile()}`,
    )
  },
})
