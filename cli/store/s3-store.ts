import { createHash, webcrypto } from 'node:crypto'
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { rootCertificates } from 'node:tls'
import { EMPTY_SHA256, encodeKeyPath, canonicalQuery, sign } from './sigv4.js'
import {
  ObjectMissing,
  StoreError,
  StoreUnavailable,
  type ReadBuffer,
  type Store,
  type StoredObject,
} from './store.js'

export interface S3Location {
  bucket: string
  prefix: string // '' or ending in '/'
  endpoint?: string // http(s)://host:port; AWS when absent
  region: string
  pathStyle: boolean
}

// How the client checks the server over https: besides the system's roots, the certificate of
// a private CA (PEM) that signed a self-hosted server's certificate — never "don't check".
export interface S3Trust {
  ca?: string
}

export interface S3Credentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

// Errors that mean "try again later" rather than "this request is wrong".
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
])
const TRANSIENT_S3_CODES = new Set([
  'RequestTimeout',
  'SlowDown',
  'ServiceUnavailable',
  'InternalError',
  'XMinioServerNotInitialized',
])

const CONNECT_TIMEOUT_MS = 5_000
const IDLE_TIMEOUT_MS = 120_000
// Bodies at least this large are hashed on the thread pool, off the thread that packs.
const ASYNC_HASH_BYTES = 256 * 1024

interface Response {
  status: number
  headers: IncomingMessage['headers']
  body: Buffer
}

interface Request {
  method: 'GET' | 'PUT' | 'HEAD' | 'DELETE'
  key?: string // the object; none for a request about the bucket
  query?: [string, string][]
  headers?: Record<string, string>
  body?: Uint8Array
  into?: ReadBuffer
}

// A repository in an S3 bucket under a prefix: AWS, MinIO, SeaweedFS, Garage. Six requests are
// all it needs (HEAD and PUT of the bucket, GET, PUT, DELETE and LIST of objects), signed with
// SigV4 over the payload's SHA-256, so the server rejects a body damaged in transit, and sent
// over kept-alive connections. No retries here: the agent retries with its own backoff and
// knows when to queue.
// Over 300 lines: one client — requests, listing, streaming bodies and error mapping — one class.
export class S3Store implements Store {
  readonly url: string
  readonly #location: S3Location
  readonly #credentials: S3Credentials
  readonly #origin: URL
  readonly #agent: HttpAgent

  constructor(location: S3Location, credentials: S3Credentials, trust: S3Trust = {}) {
    this.#location = location
    this.#credentials = credentials
    this.url = `s3://${location.bucket}/${location.prefix}${location.endpoint === undefined ? '' : ` at ${location.endpoint}`}`
    const endpoint = new URL(location.endpoint ?? `https://s3.${location.region}.amazonaws.com`)
    // Virtual-hosted style puts the bucket in the host name; path style in the path.
    if (!location.pathStyle) endpoint.hostname = `${location.bucket}.${endpoint.hostname}`
    this.#origin = endpoint
    const agentOptions = { keepAlive: true, maxSockets: 32 }
    this.#agent =
      endpoint.protocol === 'https:'
        ? new HttpsAgent({
            ...agentOptions,
            // Node's `ca` replaces the default roots: keep them, and add the private CA.
            ...(trust.ca !== undefined && { ca: [...rootCertificates, trust.ca] }),
          })
        : new HttpAgent(agentOptions)
  }

  #path(key: string | undefined): string {
    const base = this.#origin.pathname.replace(/\/+$/, '')
    const bucket = this.#location.pathStyle ? `/${this.#location.bucket}` : ''
    if (key === undefined) return `${base}${bucket}${bucket === '' ? '/' : ''}`
    return `${base}${bucket}/${encodeKeyPath(this.#location.prefix + key)}`
  }

  // One signed request; a transient failure becomes StoreUnavailable (retried, then queued),
  // an error status an S3RequestError in one line that keeps the status and the S3 code.
  async #request(what: string, r: Request): Promise<Response> {
    const body = r.body ?? new Uint8Array(0)
    const payloadHash =
      r.body === undefined
        ? EMPTY_SHA256
        : body.length >= ASYNC_HASH_BYTES
          ? Buffer.from(await webcrypto.subtle.digest('SHA-256', body)).toString('hex')
          : createHash('sha256').update(body).digest('hex')
    const path = this.#path(r.key)
    const query = r.query ?? []
    const headers = sign(
      {
        method: r.method,
        host: this.#origin.host,
        path,
        query,
        headers: {
          ...r.headers,
          ...(r.method === 'PUT' && { 'content-length': String(body.length) }),
        },
        payloadHash,
      },
      this.#credentials,
      this.#location.region,
      new Date(),
    )
    const search = query.length === 0 ? '' : `?${canonicalQuery(query)}`
    let response: Response
    try {
      response = await this.#send(r.method, path + search, headers, body, r.into)
    } catch (error) {
      if (error instanceof StoreUnavailable)
        throw new StoreUnavailable(`${this.url}: ${what}: ${error.message}`)
      const code = (error as NodeJS.ErrnoException).code
      if (code !== undefined && TRANSIENT_CODES.has(code))
        throw new StoreUnavailable(`${this.url}: ${what}: ${code}`)
      const tls = code === undefined ? undefined : tlsProblem(code, error as Error)
      if (tls !== undefined) throw new StoreError(`${this.url}: ${what}: ${tls}`, { cause: error })
      throw new StoreError(`${this.url}: ${what}: ${(error as Error).message}`, { cause: error })
    }
    if (response.status < 300) return response
    const code = xmlValue(response.body, 'Code') ?? statusName(response.status)
    const message = xmlValue(response.body, 'Message')
    const described = `${code} (HTTP ${response.status})${message === undefined ? '' : `: ${message}`}`
    if (
      response.status >= 500 ||
      response.status === 429 ||
      response.status === 408 ||
      TRANSIENT_S3_CODES.has(code)
    )
      throw new StoreUnavailable(`${this.url}: ${what}: ${described}`)
    throw new S3RequestError(this.url, response.status, code, described)
  }

  #send(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: Uint8Array,
    into: ReadBuffer | undefined,
  ): Promise<Response> {
    const request = this.#origin.protocol === 'https:' ? httpsRequest : httpRequest
    return new Promise<Response>((resolve, reject) => {
      const req = request(
        {
          protocol: this.#origin.protocol,
          hostname: this.#origin.hostname,
          port: this.#origin.port,
          method,
          path,
          headers,
          agent: this.#agent,
        },
        (res) => {
          const status = res.statusCode ?? 0
          const announced = res.headers['content-length']
          const length = announced === undefined ? undefined : Number(announced)
          readBody(res, method === 'HEAD' ? 0 : length, status < 300 ? into : undefined).then(
            (body) => resolve({ status, headers: res.headers, body }),
            reject,
          )
        },
      )
      // No connection within the time: the server is down or unreachable, not slow.
      const connecting = setTimeout(
        () => req.destroy(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' })),
        CONNECT_TIMEOUT_MS,
      )
      req.once('socket', (socket) => {
        if (!socket.connecting) clearTimeout(connecting)
        else socket.once('connect', () => clearTimeout(connecting))
      })
      req.setTimeout(IDLE_TIMEOUT_MS, () =>
        req.destroy(Object.assign(new Error('no answer in time'), { code: 'ETIMEDOUT' })),
      )
      req.once('error', (error) => {
        clearTimeout(connecting)
        reject(error)
      })
      req.once('close', () => clearTimeout(connecting))
      req.end(body.length > 0 ? body : undefined)
    })
  }

  // Creates the bucket if it does not exist (as restic and rclone do on init).
  async create(): Promise<void> {
    try {
      await this.#request('HEAD bucket', { method: 'HEAD' })
    } catch (error) {
      if (!(error instanceof S3RequestError && error.status === 404)) throw error
      const { region } = this.#location
      // Every region but the first needs to be named (AWS's CreateBucket).
      const body =
        region === 'us-east-1'
          ? undefined
          : Buffer.from(
              `<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>${region}</LocationConstraint></CreateBucketConfiguration>`,
            )
      await this.#request('create bucket', { method: 'PUT', ...(body && { body }) })
    }
  }

  async get(name: string, into?: ReadBuffer): Promise<Buffer> {
    try {
      const response = await this.#request(`GET ${name}`, {
        method: 'GET',
        key: name,
        ...(into !== undefined && { into }),
      })
      return response.body
    } catch (error) {
      if (error instanceof S3RequestError && (error.status === 404 || error.code === 'NoSuchKey'))
        throw new ObjectMissing(name)
      throw error
    }
  }

  #putObject(name: string, data: Uint8Array, ifAbsent: boolean) {
    return this.#request(`PUT ${name}`, {
      method: 'PUT',
      key: name,
      body: data,
      ...(ifAbsent && { headers: { 'if-none-match': '*' } }),
    })
  }

  async put(name: string, data: Uint8Array): Promise<void> {
    await this.#putObject(name, data, false)
  }

  async putIfAbsent(name: string, data: Uint8Array): Promise<boolean> {
    try {
      await this.#putObject(name, data, true)
      return true
    } catch (error) {
      if (error instanceof S3RequestError && (error.status === 412 || error.status === 409))
        return false
      throw error
    }
  }

  // ListObjectsV2, page by page.
  async list(prefix: string): Promise<StoredObject[]> {
    const out: StoredObject[] = []
    let token: string | undefined
    do {
      const query: [string, string][] = [
        ['list-type', '2'],
        ['prefix', this.#location.prefix + prefix],
      ]
      if (token !== undefined) query.push(['continuation-token', token])
      const page = (await this.#request(`LIST ${prefix}`, { method: 'GET', query })).body.toString(
        'utf8',
      )
      for (const [, contents] of page.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
        const key = xmlValue(contents!, 'Key')
        if (key !== undefined)
          out.push({
            name: key.slice(this.#location.prefix.length),
            size: Number(xmlValue(contents!, 'Size') ?? 0),
          })
      }
      token =
        xmlValue(page, 'IsTruncated') === 'true'
          ? xmlValue(page, 'NextContinuationToken')
          : undefined
    } while (token !== undefined)
    return out
  }

  async delete(name: string): Promise<void> {
    await this.#request(`DELETE ${name}`, { method: 'DELETE', key: name })
  }
}

// The text of the first <tag> in an S3 XML answer, entities decoded. S3's answers are flat and
// machine-written; a full XML parser would only add weight to every command.
function xmlValue(xml: Buffer | string, tag: string): string | undefined {
  const text = typeof xml === 'string' ? xml : xml.toString('utf8')
  const m = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(text)
  if (m === null) return undefined
  return m[1]!.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (_, e: string) =>
    e === 'amp'
      ? '&'
      : e === 'lt'
        ? '<'
        : e === 'gt'
          ? '>'
          : e === 'quot'
            ? '"'
            : e === 'apos'
              ? "'"
              : String.fromCodePoint(
                  e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10),
                ),
  )
}

// A certificate the client cannot trust, or TLS spoken to a plain-HTTP port, as one line with
// the fix. Permanent: retrying does not make a certificate valid.
const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
])
function tlsProblem(code: string, error: Error): string | undefined {
  if (UNTRUSTED.has(code))
    return `the server's TLS certificate is not signed by a trusted CA (${code}) — pass --s3-ca <file> with the certificate of the CA that signed it`
  if (code === 'CERT_HAS_EXPIRED') return `the server's TLS certificate has expired (${code})`
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return `the server's TLS certificate is not for this host name (${code}) — use the name it was issued for in --endpoint`
  if (code === 'EPROTO' && /wrong version number|packet length too long/.test(error.message))
    return 'the server does not speak TLS on this port — is the endpoint http:// rather than https://?'
  return undefined
}

// A HEAD answer has no body to name its error.
const statusName = (status: number) =>
  ({
    400: 'BadRequest',
    403: 'Forbidden',
    404: 'NotFound',
    409: 'Conflict',
    412: 'PreconditionFailed',
  })[status] ?? 'Error'

// A permanent S3 error (wrong credentials, no such bucket) as one line, with a hint for the
// common ones; the HTTP status and error code stay for the callers that expect some.
class S3RequestError extends StoreError {
  constructor(
    url: string,
    readonly status: number,
    readonly code: string,
    described: string,
  ) {
    const hint =
      status === 403
        ? ' — check the access key and secret in the S3 credentials file'
        : status === 404
          ? ' — does the bucket exist? `keystone agent init` creates it'
          : ''
    super(`${url}: ${described}${hint}`)
  }
}

// A body read straight into one buffer of its announced length (or one `into` gives), so a
// restore worker can be handed it without a copy. A body longer or shorter than announced is a
// transfer error, worth retrying.
async function readBody(
  body: IncomingMessage,
  length: number | undefined,
  into: ReadBuffer = (n) => Buffer.allocUnsafeSlow(n),
): Promise<Buffer> {
  if (length === undefined) {
    const parts: Buffer[] = []
    for await (const part of body) parts.push(part as Buffer)
    return Buffer.concat(parts)
  }
  const out = into(length).subarray(0, length)
  let at = 0
  for await (const part of body) {
    const piece = part as Buffer
    if (at + piece.length > length) throw new StoreUnavailable('a body longer than announced')
    piece.copy(out, at)
    at += piece.length
  }
  if (at !== length) throw new StoreUnavailable(`a body cut short (${at} of ${length} bytes)`)
  return out
}
