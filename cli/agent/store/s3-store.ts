import { Agent as HttpAgent } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import type { Readable } from 'node:stream'
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3'
import { NodeHttpHandler } from '@smithy/node-http-handler'
import {
  ObjectMissing,
  StoreError,
  StoreUnavailable,
  type ReadBuffer,
  type Store,
  type StoredObject,
} from './store.js'

// The SDK warns on every start under Node 20 that its releases from 2027 on need Node 22. The
// version Keystone uses is pinned in package.json, so the warning says nothing to a user here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

export interface S3Location {
  bucket: string
  prefix: string // '' or ending in '/'
  endpoint?: string // http(s)://host:port; AWS when absent
  region: string
  pathStyle: boolean
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
  'UND_ERR_SOCKET',
])
const TRANSIENT_NAMES = new Set([
  'TimeoutError',
  'StoreUnavailable', // a body cut short (readBody)
  'RequestTimeout',
  'SlowDown',
  'ServiceUnavailable',
  'InternalError',
  'XMinioServerNotInitialized',
])

function isTransient(error: unknown): boolean {
  const e = error as {
    code?: string
    name?: string
    $metadata?: { httpStatusCode?: number }
    cause?: unknown
  }
  const status = e.$metadata?.httpStatusCode
  if (status !== undefined && (status >= 500 || status === 429 || status === 408)) return true
  if (
    (e.code !== undefined && TRANSIENT_CODES.has(e.code)) ||
    (e.name !== undefined && TRANSIENT_NAMES.has(e.name))
  )
    return true
  return e.cause !== undefined && e.cause !== error && isTransient(e.cause)
}

const statusOf = (error: unknown) =>
  (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode

// A repository in an S3 bucket under a prefix: AWS, MinIO, SeaweedFS, Garage. Requests are
// signed with SigV4 over the payload's SHA-256, so the server rejects a body damaged in transit.
// The SDK's own retries are off: the agent retries with its own backoff and knows when to queue.
export class S3Store implements Store {
  readonly url: string
  readonly #client: S3Client
  readonly #location: S3Location

  constructor(location: S3Location, credentials: S3Credentials) {
    this.#location = location
    this.url = `s3://${location.bucket}/${location.prefix}${location.endpoint === undefined ? '' : ` at ${location.endpoint}`}`
    const agentOptions = { keepAlive: true, maxSockets: 32 }
    this.#client = new S3Client({
      region: location.region,
      ...(location.endpoint !== undefined && { endpoint: location.endpoint }),
      forcePathStyle: location.pathStyle,
      credentials,
      maxAttempts: 1,
      // Plain signed PUTs: aws-chunked uploads with CRC trailers are not decoded by every server.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: new NodeHttpHandler({
        httpAgent: new HttpAgent(agentOptions),
        httpsAgent: new HttpsAgent(agentOptions),
        connectionTimeout: 5_000,
        requestTimeout: 120_000,
      }),
    })
  }

  #key(name: string): string {
    return this.#location.prefix + name
  }

  // Every request goes through here: a transient failure becomes StoreUnavailable (retried,
  // then queued), any other one a StoreError in one line that keeps the HTTP status.
  async #send<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (error) {
      if (isTransient(error)) throw new StoreUnavailable(`${this.url}: ${what}: ${describe(error)}`)
      throw new S3RequestError(this.url, error)
    }
  }

  // Creates the bucket if it does not exist (as restic and rclone do on init).
  async create(): Promise<void> {
    const Bucket = this.#location.bucket
    try {
      await this.#send('HEAD bucket', () => this.#client.send(new HeadBucketCommand({ Bucket })))
    } catch (error) {
      if (!(error instanceof S3RequestError && error.status === 404)) throw error
      await this.#send('create bucket', () =>
        this.#client.send(new CreateBucketCommand({ Bucket })),
      )
    }
  }

  async get(name: string, into?: ReadBuffer): Promise<Buffer> {
    try {
      return await this.#send(`GET ${name}`, async () => {
        const out = await this.#client.send(
          new GetObjectCommand({ Bucket: this.#location.bucket, Key: this.#key(name) }),
        )
        return await readBody(out.Body as Readable, out.ContentLength, into)
      })
    } catch (error) {
      if (error instanceof S3RequestError && (error.status === 404 || error.code === 'NoSuchKey'))
        throw new ObjectMissing(name)
      throw error
    }
  }

  #putObject(name: string, data: Uint8Array, ifAbsent: boolean) {
    return this.#send(`PUT ${name}`, () =>
      this.#client.send(
        new PutObjectCommand({
          Bucket: this.#location.bucket,
          Key: this.#key(name),
          Body: data,
          ContentLength: data.length,
          ...(ifAbsent && { IfNoneMatch: '*' }),
        }),
      ),
    )
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

  async list(prefix: string): Promise<StoredObject[]> {
    const out: StoredObject[] = []
    let ContinuationToken: string | undefined
    do {
      const page = await this.#send(`LIST ${prefix}`, () =>
        this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.#location.bucket,
            Prefix: this.#key(prefix),
            ContinuationToken,
          }),
        ),
      )
      for (const o of page.Contents ?? []) {
        if (o.Key !== undefined)
          out.push({ name: o.Key.slice(this.#location.prefix.length), size: o.Size ?? 0 })
      }
      ContinuationToken = page.IsTruncated === true ? page.NextContinuationToken : undefined
    } while (ContinuationToken !== undefined)
    return out
  }

  async delete(name: string): Promise<void> {
    await this.#send(`DELETE ${name}`, () =>
      this.#client.send(
        new DeleteObjectCommand({ Bucket: this.#location.bucket, Key: this.#key(name) }),
      ),
    )
  }
}

function describe(error: unknown): string {
  const e = error as {
    name?: string
    message?: string
    code?: string
    $metadata?: { httpStatusCode?: number }
  }
  const status = e.$metadata?.httpStatusCode
  const what = e.code ?? e.name ?? 'error'
  const message =
    e.message !== undefined && e.message !== '' && e.message !== what ? `: ${e.message}` : ''
  return `${what}${status === undefined ? '' : ` (HTTP ${status})`}${message}`
}

// A permanent S3 error (wrong credentials, no such bucket) as one line, with a hint for the
// common ones; the HTTP status and error code stay for the callers that expect some.
class S3RequestError extends StoreError {
  readonly status: number | undefined
  readonly code: string | undefined

  constructor(url: string, error: unknown) {
    const status = statusOf(error)
    const hint =
      status === 403
        ? ' — check the access key and secret in the S3 credentials file'
        : status === 404
          ? ' — does the bucket exist? `keystone agent init` creates it'
          : ''
    super(`${url}: ${describe(error)}${hint}`, { cause: error })
    this.status = status
    this.code = (error as { name?: string }).name
  }
}

// A body read straight into one buffer of its announced length, its own ArrayBuffer: no second
// copy to join the pieces (the SDK's collector makes one), and a restore worker can be handed it
// without a copy. A body longer or shorter than announced is a transfer error.
async function readBody(
  body: Readable,
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
