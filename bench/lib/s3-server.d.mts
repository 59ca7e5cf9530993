import type { Certificates } from './throwaway-ca.mjs'

export type S3ServerKind = 'minio' | 'seaweedfs'

export interface S3Server {
  kind: S3ServerKind
  tls: boolean
  endpoint: string
  credentials: { AWS_ACCESS_KEY_ID: string; AWS_SECRET_ACCESS_KEY: string }
  credentialsFile: string // AWS_ACCESS_KEY_ID=… lines, as `keystone agent init --s3-credentials` reads
  caFile?: string // over TLS: the CA that signed the server's certificate
  certificates?: Certificates
  dataDir: string
  pid(): number | undefined
  // Kills the server (SIGKILL: no goodbye) and, with `start`, brings it back on the same ports.
  kill(): Promise<void>
  start(): Promise<void>
  stop(): Promise<void>
}

export const S3_SERVER_COMMANDS: Record<S3ServerKind, { command: string; probe: string[] }>
export function startS3Server(options: { kind: S3ServerKind; tls: boolean; dir?: string }): Promise<S3Server>
export function s3ServerVersion(kind: S3ServerKind): string
