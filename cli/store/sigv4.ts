import { createHash, createHmac } from 'node:crypto'

// AWS Signature Version 4 for S3 requests, in the Authorization header: the scheme every
// S3-compatible server (AWS, MinIO, SeaweedFS, Garage) checks. Written down in AWS's "Signature
// Version 4 signing process" and "Authenticating requests (AWS Signature Version 4)" for S3;
// test/agent/sigv4.test.ts checks it against AWS's published example.
export interface SigningCredentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

export interface RequestToSign {
  method: string
  host: string // with the port when it is not the scheme's default
  path: string // already encoded (encodeKeyPath)
  query: [string, string][] // not encoded
  headers: Record<string, string> // lower-case names; host and x-amz-* are added
  payloadHash: string // hex SHA-256 of the body, or UNSIGNED-PAYLOAD
}

export const EMPTY_SHA256 = createHash('sha256').update('').digest('hex')

// RFC 3986 unreserved characters stay, every other byte is %XX (upper case), as SigV4 wants;
// encodeURIComponent leaves !'()* alone, so they are done by hand.
export const uriEncode = (value: string): string =>
  encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  )

// An object key as a path: each segment encoded, the slashes kept.
export const encodeKeyPath = (key: string): string => key.split('/').map(uriEncode).join('/')

export const canonicalQuery = (query: readonly [string, string][]): string =>
  query
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&')

const hmac = (key: Uint8Array | string, data: string) =>
  createHmac('sha256', key).update(data).digest()

// `20150830T123600Z`: the request's time to the second.
export const amzDate = (date: Date): string =>
  date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '')

// The headers to send: the request's own, with host, x-amz-date, x-amz-content-sha256, the
// session token when there is one, and the Authorization that signs them all.
export function sign(
  request: RequestToSign,
  credentials: SigningCredentials,
  region: string,
  date: Date,
  service = 's3',
): Record<string, string> {
  const when = amzDate(date)
  const day = when.slice(0, 8)
  const headers: Record<string, string> = {
    ...request.headers,
    host: request.host,
    'x-amz-date': when,
    ...(service === 's3' && { 'x-amz-content-sha256': request.payloadHash }),
    ...(credentials.sessionToken !== undefined && {
      'x-amz-security-token': credentials.sessionToken,
    }),
  }
  const names = Object.keys(headers).sort()
  const canonicalHeaders = names
    .map((n) => `${n}:${headers[n]!.trim().replace(/\s+/g, ' ')}\n`)
    .join('')
  const signedHeaders = names.join(';')
  const canonicalRequest = [
    request.method,
    request.path,
    canonicalQuery(request.query),
    canonicalHeaders,
    signedHeaders,
    request.payloadHash,
  ].join('\n')
  const scope = `${day}/${region}/${service}/aws4_request`
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    when,
    scope,
    createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n')
  const key = hmac(
    hmac(hmac(hmac(`AWS4${credentials.secretAccessKey}`, day), region), service),
    'aws4_request',
  )
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex')
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`
  return headers
}
