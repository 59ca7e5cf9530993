import {
  S3_SERVER_COMMANDS,
  startS3Server as start,
  type S3Server,
  type S3ServerKind,
} from '../../bench/lib/s3-server.mjs'
import { needs } from './needs.js'

// The S3 servers the agent's store tests run against, each over plain HTTP and over TLS: MinIO
// and SeaweedFS, real processes on loopback (bench/lib/s3-server.mjs starts them).
export interface S3Flavour {
  kind: S3ServerKind
  tls: boolean
  name: string // "seaweedfs over TLS": what a test's title says
}

export const S3_FLAVOURS: readonly S3Flavour[] = (['minio', 'seaweedfs'] as const).flatMap((kind) =>
  [true, false].map((tls) => ({ kind, tls, name: `${kind} over ${tls ? 'TLS' : 'HTTP'}` })),
)

// The long tests (a server killed mid-backup, two-way sync, fleet status) run on both servers
// over TLS, the path with more to go wrong; plain HTTP is covered on both by s3-store.test.ts and
// s3.test.ts.
export const S3_FLAVOURS_TLS: readonly S3Flavour[] = S3_FLAVOURS.filter((f) => f.tls)

export const needsS3Server = (kind: S3ServerKind) =>
  needs(S3_SERVER_COMMANDS[kind].command, S3_SERVER_COMMANDS[kind].probe)

export interface TestS3Server extends S3Server {
  flavour: S3Flavour
  // The flags that point `keystone agent init` (or `fleet status`, from the third on) at it.
  agentArgs(): string[]
}

export async function startS3Server(flavour: S3Flavour): Promise<TestS3Server> {
  const server = await start(flavour)
  return {
    ...server,
    flavour,
    agentArgs: () => [
      '--endpoint',
      server.endpoint,
      '--s3-credentials',
      server.credentialsFile,
      ...(server.caFile === undefined ? [] : ['--s3-ca', server.caFile]),
    ],
  }
}
