import t from 'tap'
import { createHash } from 'node:crypto'
import { EMPTY_SHA256, encodeKeyPath, sign, uriEncode } from '../../cli/store/sigv4.js'

// The signer against the examples AWS publishes with their expected signatures: the SigV4 test
// suite's get-vanilla cases (service "service") and the S3 developer guide's examples
// ("Examples: Signature calculations in AWS Signature Version 4", examplebucket, 2013-05-24).
// Every S3 request of the agent goes through this one function; MinIO in the other tests
// rejects any request it signs wrongly, and these pin the parts MinIO cannot see (the AWS host).
const suite = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
}
const s3docs = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
}
const signature = (headers: Record<string, string>) =>
  /Signature=([0-9a-f]{64})$/.exec(headers.authorization!)?.[1]

t.test('the SigV4 test suite: get-vanilla and get-vanilla-query-order-key-case', async (t) => {
  const at = new Date('2015-08-30T12:36:00Z')
  const base = {
    method: 'GET',
    host: 'example.amazonaws.com',
    path: '/',
    headers: {},
    payloadHash: EMPTY_SHA256,
  }
  const vanilla = sign({ ...base, query: [] }, suite, 'us-east-1', at, 'service')
  t.equal(
    vanilla.authorization,
    'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
  )
  t.equal(vanilla['x-amz-date'], '20150830T123600Z')
  const ordered = sign(
    {
      ...base,
      query: [
        ['Param2', 'value2'],
        ['Param1', 'value1'],
      ],
    },
    suite,
    'us-east-1',
    at,
    'service',
  )
  t.equal(
    signature(ordered),
    'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500',
    'the query is sorted',
  )
})

t.test('the S3 developer guide: GET an object with a range, GET ?lifecycle', async (t) => {
  const at = new Date('2013-05-24T00:00:00Z')
  const get = sign(
    {
      method: 'GET',
      host: 'examplebucket.s3.amazonaws.com',
      path: '/test.txt',
      query: [],
      headers: { range: 'bytes=0-9' },
      payloadHash: EMPTY_SHA256,
    },
    s3docs,
    'us-east-1',
    at,
  )
  t.equal(
    get.authorization,
    'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
  )
  const lifecycle = sign(
    {
      method: 'GET',
      host: 'examplebucket.s3.amazonaws.com',
      path: '/',
      query: [['lifecycle', '']],
      headers: {},
      payloadHash: EMPTY_SHA256,
    },
    s3docs,
    'us-east-1',
    at,
  )
  t.equal(
    signature(lifecycle),
    'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543',
    'an empty query value',
  )
  t.equal(EMPTY_SHA256, createHash('sha256').digest('hex'))
})

t.test('keys are encoded per segment, every reserved character but the slash', async (t) => {
  t.equal(uriEncode("a b!*'()~._-"), 'a%20b%21%2A%27%28%29~._-')
  t.equal(encodeKeyPath('host/data/ab/cd$e'), 'host/data/ab/cd%24e')
  t.equal(encodeKeyPath('ü/x'), '%C3%BC/x')
})

t.test('a session token is sent and signed', async (t) => {
  const headers = sign(
    { method: 'GET', host: 'h', path: '/', query: [], headers: {}, payloadHash: EMPTY_SHA256 },
    { ...s3docs, sessionToken: 'token' },
    'eu-west-1',
    new Date('2026-01-01T00:00:00Z'),
  )
  t.equal(headers['x-amz-security-token'], 'token')
  t.match(
    headers.authorization,
    /SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,/,
  )
  t.match(
    headers.authorization,
    /Credential=AKIAIOSFODNN7EXAMPLE\/20260101\/eu-west-1\/s3\/aws4_request/,
  )
})
