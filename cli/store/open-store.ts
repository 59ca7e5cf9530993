import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { awsEnvironmentCredentials, systemdCredentialFile } from '../config.js'
import { UsageError, UserError } from '../errors.js'
import { FileStore } from './file-store.js'
import type { S3Credentials, S3Location, S3Store } from './s3-store.js'

// Where a repository lives, as `keystone agent init` was told and agent.json remembers.
export interface StoreSettings {
  store: string // file:///path or s3://bucket/prefix
  endpoint?: string
  region?: string
  pathStyle?: boolean
  credentialsFile?: string
  caFile?: string // https: a private CA's certificate (PEM) to trust besides the system's
}

// `s3://bucket/some/prefix` → bucket and "some/prefix/"; anything else must be file:// or an
// absolute path.
export function parseStoreUrl(
  url: string,
): { kind: 'file'; root: string } | { kind: 's3'; bucket: string; prefix: string } {
  if (url.startsWith('s3://')) {
    const rest = url.slice('s3://'.length)
    const slash = rest.indexOf('/')
    const bucket = slash === -1 ? rest : rest.slice(0, slash)
    const prefix = slash === -1 ? '' : rest.slice(slash + 1).replace(/\/*$/, '')
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
      throw new UsageError(
        `${url}: "${bucket}" is not a valid bucket name`,
        'use s3://<bucket>/<prefix>, e.g. s3://backups/web1',
      )
    return { kind: 's3', bucket, prefix: prefix === '' ? '' : `${prefix}/` }
  }
  if (url.startsWith('file://')) {
    const root = url.slice('file://'.length)
    if (!path.isAbsolute(root))
      throw new UsageError(
        `${url}: a file store needs an absolute path`,
        'write file:///path/to/folder (three slashes)',
      )
    return { kind: 'file', root }
  }
  if (path.isAbsolute(url)) return { kind: 'file', root: url }
  throw new UsageError(`${url}: not a store`, 'use file:///path/to/folder or s3://bucket/prefix')
}

// KEY=VALUE lines, as in a systemd EnvironmentFile: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
export function readCredentialsFile(file: string): S3Credentials {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new UserError(
      `${file}: cannot read the S3 credentials (${(error as NodeJS.ErrnoException).code})`,
    )
  }
  const values = new Map<string, string>()
  for (const line of text.split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Z_]+)\s*=\s*"?([^"\n]*)"?\s*$/.exec(line)
    if (m !== null) values.set(m[1]!, m[2]!)
  }
  const accessKeyId = values.get('AWS_ACCESS_KEY_ID')
  const secretAccessKey = values.get('AWS_SECRET_ACCESS_KEY')
  if (!accessKeyId || !secretAccessKey)
    throw new UserError(`${file}: no S3 credentials in it`, {
      hint: 'write two lines: AWS_ACCESS_KEY_ID=… and AWS_SECRET_ACCESS_KEY=…',
    })
  const sessionToken = values.get('AWS_SESSION_TOKEN')
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) }
}

// The CA certificate `--s3-ca` names: PEM text, checked here so a wrong file is one line now
// rather than a TLS failure on every request.
function readCaFile(file: string): string {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new UserError(`${file}: cannot read the CA certificate (${(error as NodeJS.ErrnoException).code})`)
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----'))
    throw new UserError(`${file}: not a PEM certificate`, {
      hint: 'give the CA certificate that signed the S3 server\'s certificate, as PEM (-----BEGIN CERTIFICATE-----)',
    })
  return text
}

// Credentials from, in order: the configured file, the systemd credential `s3-credentials`,
// the AWS_* environment variables.
function s3Credentials(settings: StoreSettings): S3Credentials {
  if (settings.credentialsFile !== undefined) return readCredentialsFile(settings.credentialsFile)
  const credential = systemdCredentialFile('s3-credentials')
  if (credential !== undefined && existsSync(credential)) return readCredentialsFile(credential)
  const env = awsEnvironmentCredentials()
  if (env !== undefined) return env
  throw new UserError(`${settings.store}: no S3 credentials`, {
    hint: 'pass --s3-credentials <file> (AWS_ACCESS_KEY_ID=… and AWS_SECRET_ACCESS_KEY=… lines) or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
  })
}

// The S3 client is loaded only for an S3 store: a folder store needs none of it.
export async function openStore(settings: StoreSettings): Promise<FileStore | S3Store> {
  const parsed = parseStoreUrl(settings.store)
  if (parsed.kind === 'file') return new FileStore(parsed.root)
  const location: S3Location = {
    bucket: parsed.bucket,
    prefix: parsed.prefix,
    region: settings.region ?? 'us-east-1',
    pathStyle: settings.pathStyle ?? settings.endpoint !== undefined,
    ...(settings.endpoint !== undefined && { endpoint: settings.endpoint }),
  }
  const { S3Store } = await import('./s3-store.js')
  return new S3Store(location, s3Credentials(settings), {
    ...(settings.caFile !== undefined && { ca: readCaFile(settings.caFile) }),
  })
}
