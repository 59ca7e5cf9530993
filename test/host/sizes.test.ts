import fc from 'fast-check'
import t from 'tap'
import { formatSizeLiteral, parseSize } from '../../cli/host/sizes.js'

t.test('sizes are whole numbers with a binary unit', async (t) => {
  t.equal(parseSize('1K'), 1024)
  t.equal(parseSize('512M'), 512 * 2 ** 20)
  t.equal(parseSize('1G'), 2 ** 30)
  t.equal(parseSize('2T'), 2 * 2 ** 40)
})

// What people write that sgdisk or `zfs create -V` would read differently, or not at all.
t.test('other spellings are not sizes', async (t) => {
  for (const text of ['', '0', '0G', '08G', '1.5G', '100%', '8g', '8GB', '8 G', ' 8G', '8G ', '-1G', '1P', 'G', '1e3M', '８G']) {
    t.equal(parseSize(text), undefined, JSON.stringify(text))
  }
})

t.test('sizes beyond exact integers are refused rather than rounded', async (t) => {
  t.equal(parseSize('8191T'), 8191 * 2 ** 40)
  t.equal(parseSize('8192T'), undefined)
  t.equal(parseSize('9999999999999999999T'), undefined)
})

t.test('bytes print in the largest exact unit', async (t) => {
  t.equal(formatSizeLiteral(4 * 2 ** 30), '4G')
  t.equal(formatSizeLiteral(1536 * 2 ** 20), '1536M')
  t.equal(formatSizeLiteral(2 ** 40), '1T')
  t.equal(formatSizeLiteral(1536), '1536')
  t.equal(formatSizeLiteral(0), '0')
})

t.test('a formatted size parses back to the same bytes', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 ** 30 }), fc.constantFrom(2 ** 10, 2 ** 20, 2 ** 30), (n, unit) => {
      const bytes = n * unit
      fc.pre(Number.isSafeInteger(bytes))
      return parseSize(formatSizeLiteral(bytes)) === bytes
    }),
  )
  t.pass('round trip')
})
