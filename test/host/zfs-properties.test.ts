import t from 'tap'
import { checkZfsProperty, ZFS_PROPERTY_CHECKS } from '../../cli/host/zfs-properties.js'

// One value from zfsprops(7) per checked property: adding a property without a value here fails.
const VALID: Record<string, string[]> = {
  acltype: ['posixacl', 'off'],
  atime: ['off'],
  canmount: ['noauto'],
  checksum: ['blake3', 'sha256'],
  compression: ['on', 'off', 'lz4', 'zstd', 'zstd-1', 'zstd-19', 'zstd-fast', 'zstd-fast-1000', 'gzip', 'gzip-9', 'lzjb', 'zle'],
  copies: ['2'],
  dedup: ['off', 'verify'],
  devices: ['off'],
  dnodesize: ['auto'],
  encryption: ['aes-256-gcm'],
  exec: ['off'],
  keyformat: ['raw', 'passphrase'],
  keylocation: ['prompt', 'file:///etc/keys/data.key', 'https://keys.example.org/data'],
  logbias: ['throughput'],
  primarycache: ['metadata'],
  quota: ['none', '10G'],
  readonly: ['on'],
  recordsize: ['512', '4K', '128K', '1M', '16M'],
  redundant_metadata: ['most'],
  refquota: ['500G'],
  refreservation: ['none'],
  relatime: ['on'],
  reservation: ['1T'],
  secondarycache: ['all'],
  setuid: ['off'],
  snapdir: ['visible'],
  special_small_blocks: ['0', '64K'],
  sync: ['disabled'],
  xattr: ['sa'],
}

t.test('every checked property accepts its documented values', async (t) => {
  t.same(Object.keys(VALID).sort(), Object.keys(ZFS_PROPERTY_CHECKS).sort(), 'every property has test values')
  for (const [name, values] of Object.entries(VALID)) {
    for (const value of values) t.equal(checkZfsProperty(name, value), undefined, `${name}=${value}`)
  }
})

t.test('wrong values are rejected with what is expected', async (t) => {
  const compression = (value: string) =>
    `expected on, off, lz4, zstd, zstd-<1-19>, gzip-<1-9>, lzjb or zle, got \`${value}\``
  t.same(checkZfsProperty('compression', 'zstd-22'), { message: compression('zstd-22') }, 'zstd stops at 19 in ZFS')
  t.same(checkZfsProperty('compression', 'gzip-10'), { message: compression('gzip-10') })
  t.same(checkZfsProperty('compression', 'ZSTD'), { message: compression('ZSTD') })
  const recordsize = (value: string) => `expected a power of two from 512 to 16M such as 128K or 1M, got \`${value}\``
  for (const value of ['100K', '32M', '256', '1MB', '0', '1.5M']) {
    t.same(checkZfsProperty('recordsize', value), { message: recordsize(value) }, `recordsize=${value}`)
  }
  t.same(checkZfsProperty('atime', 'yes'), { message: 'expected one of on, off, got `yes`' })
  t.same(checkZfsProperty('quota', '10 GB'), { message: 'expected a size such as 10G, or none, got `10 GB`' })
})

t.test('keylocation takes prompt or a file:// or https:// URI', async (t) => {
  const message = (value: string) => `expected prompt, file:///<absolute path> or https://<url>, got \`${value}\``
  t.same(checkZfsProperty('keylocation', '/etc/keys/data.key'), {
    message: message('/etc/keys/data.key'),
    hint: 'a path is written as a URI: file:///etc/keys/data.key',
  })
  t.same(checkZfsProperty('keylocation', 'http://keys.example.org/data'), {
    message: message('http://keys.example.org/data'),
    hint: 'fetch the key over https://; over http:// anyone on the way can read it',
  })
  t.same(checkZfsProperty('keylocation', 'file://etc/key'), { message: message('file://etc/key') }, 'file:// needs an absolute path')
  t.same(checkZfsProperty('keylocation', 'Prompt'), { message: message('Prompt') })
})

t.test('unknown and Keystone-owned properties are about the name', async (t) => {
  t.same(checkZfsProperty('compresion', 'zstd'), { message: 'unknown ZFS property `compresion`', hint: 'did you mean `compression`?', aboutName: true })
  t.same(checkZfsProperty('record_size', '1M'), { message: 'unknown ZFS property `record_size`', hint: 'did you mean `recordsize`?', aboutName: true })
  const unknown = checkZfsProperty('snapshots', 'daily')
  t.match(unknown, { message: 'unknown ZFS property `snapshots`', aboutName: true })
  t.match(unknown?.hint, /^known properties: acltype, atime, .*; user properties contain a colon$/)
  t.same(checkZfsProperty('mountpoint', '/srv'), { message: '`mountpoint` is set by Keystone', hint: "use the dataset's `mountpoint:` field instead", aboutName: true })
})

// Found by test/host/fuzz-loader.test.ts: `constructor` used to find Object's constructor.
t.test("names of Object's own methods are unknown properties", async (t) => {
  for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
    t.match(checkZfsProperty(name, 'x'), { message: `unknown ZFS property \`${name}\``, aboutName: true }, name)
  }
})

t.test('user properties (module:property) take any value', async (t) => {
  t.equal(checkZfsProperty('com.sun:auto-snapshot', 'true'), undefined)
  t.equal(checkZfsProperty('org.example:note', 'anything at all'), undefined)
})
