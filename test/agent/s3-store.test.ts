import { readFileSync } from 'node:fs'
import t from 'tap'
import { ObjectMissing, StoreUnavailable } from '../../cli/store/store.js'
import { readCredentialsFile } from '../../cli/store/open-store.js'
import { S3Store, type S3Location, type S3Trust } from '../../cli/store/s3-store.js'
import { freePort } from '../helpers/loopback-port.js'
import {
  needsS3Server,
  S3_FLAVOURS,
  startS3Server,
  type TestS3Server,
} from '../helpers/s3-server.js'

// Keystone's own S3 client (SigV4, six requests) against MinIO and SeaweedFS, over HTTP and
// TLS, which both check every signature: the cases the agent's tests do not reach by
// themselves. Listing past one page (continuation tokens are base64, so they need encoding twice
// right: in the URL and in the signature), a prefix with characters that must be encoded,
// conditional creates, a read into a given buffer, the one-line errors for a refused key, an
// untrusted certificate and a server that is not there.
let bucket = 0

for (const flavour of S3_FLAVOURS) {
  t.test(flavour.name, { skip: needsS3Server(flavour.kind) }, async (t) => {
    const server = await startS3Server(flavour)
    t.teardown(() => server.stop())
    const trust = (): S3Trust =>
      server.caFile === undefined ? {} : { ca: readFileSync(server.caFile, 'utf8') }
    const storeAt = async (prefix: string, overrides: Partial<S3Location> = {}) => {
      const store = new S3Store(
        {
          bucket: `keystone-client-${++bucket}`,
          prefix,
          endpoint: server.endpoint,
          region: 'us-east-1',
          pathStyle: true,
          ...overrides,
        },
        readCredentialsFile(server.credentialsFile),
        trust(),
      )
      await store.create()
      return store
    }

    t.test('lists past the first page of 1,000 keys', async (t) => {
      const store = await storeAt('host/')
      const names = Array.from({ length: 1_050 }, (_, i) => `data/${String(i).padStart(4, '0')}`)
      for (let i = 0; i < names.length; i += 50)
        await Promise.all(names.slice(i, i + 50).map((n) => store.put(n, Buffer.from(n))))
      const listed = await store.list('data/')
      t.equal(listed.length, 1_050)
      t.same(listed.map((o) => o.name).sort(), names)
      t.equal(listed[0]!.size, 9)
    })

    t.test('a prefix and names with characters that must be encoded', async (t) => {
      const store = await storeAt("a b+c/ü (1)/!'*~/")
      await store.put('x/y z&=.bin', Buffer.from('payload'))
      t.same(
        (await store.list('x/')).map((o) => o.name),
        ['x/y z&=.bin'],
      )
      t.equal((await store.get('x/y z&=.bin')).toString(), 'payload')
      await store.delete('x/y z&=.bin')
      await t.rejects(store.get('x/y z&=.bin'), ObjectMissing)
    })

    t.test('putIfAbsent creates once; get reads into a given buffer', async (t) => {
      const store = await storeAt('')
      t.equal(await store.putIfAbsent('locks/a', Buffer.from('first')), true)
      t.equal(await store.putIfAbsent('locks/a', Buffer.from('second')), false)
      t.equal((await store.get('locks/a')).toString(), 'first')
      const big = Buffer.alloc(3 * 1024 * 1024, 7) // hashed on the thread pool
      await store.put('data/big', big)
      const given = Buffer.alloc(4 * 1024 * 1024)
      const read = await store.get('data/big', () => given)
      t.equal(read.buffer, given.buffer, 'read into the given buffer')
      t.equal(read.length, big.length)
      t.ok(read.equals(big))
    })

    t.test('a wrong secret is one line with the status and a hint', async (t) => {
      const store = new S3Store(
        {
          bucket: 'keystone-client-x',
          prefix: '',
          endpoint: server.endpoint,
          region: 'us-east-1',
          pathStyle: true,
        },
        {
          accessKeyId: readCredentialsFile(server.credentialsFile).accessKeyId,
          secretAccessKey: 'wrong',
        },
        trust(),
      )
      const error = await store.get('x').then(
        () => undefined,
        (e: Error) => e,
      )
      t.match(error?.message, /SignatureDoesNotMatch \(HTTP 403\).*check the access key/)
      t.notOk(error instanceof StoreUnavailable, 'not worth retrying')
    })

    if (flavour.tls) {
      t.test('a certificate from an untrusted CA is one line with the fix', async (t) => {
        const store = new S3Store(
          {
            bucket: 'keystone-client-x',
            prefix: '',
            endpoint: server.endpoint,
            region: 'us-east-1',
            pathStyle: true,
          },
          readCredentialsFile(server.credentialsFile),
        )
        const error = await store.list('x/').then(
          () => undefined,
          (e: Error) => e,
        )
        t.match(
          error?.message,
          /not signed by a trusted CA \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\) — pass --s3-ca/,
        )
        t.notOk(error instanceof StoreUnavailable, 'not worth retrying')
      })
    } else {
      t.test('https to a plain-HTTP port is one line', async (t) => {
        const store = new S3Store(
          {
            bucket: 'keystone-client-x',
            prefix: '',
            endpoint: server.endpoint.replace('http:', 'https:'),
            region: 'us-east-1',
            pathStyle: true,
          },
          readCredentialsFile(server.credentialsFile),
        )
        const error = await store.list('x/').then(
          () => undefined,
          (e: Error) => e,
        )
        t.match(error?.message, /does not speak TLS on this port — is the endpoint http:\/\//)
      })
    }
  })
}

t.test('no server at the endpoint is StoreUnavailable, soon', async (t) => {
  const port = await freePort()
  const store = new S3Store(
    {
      bucket: 'b',
      prefix: '',
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      pathStyle: true,
    },
    { accessKeyId: 'a', secretAccessKey: 'b' },
  )
  const started = Date.now()
  await t.rejects(store.list('data/'), StoreUnavailable)
  t.ok(Date.now() - started < 5_000)
})
