import t from 'tap'
import { formatBytes, formatDiskSize, formatGiB } from '../../cli/ui/size.js'

// The one formatter of byte counts for people (cli/ui/size.ts): binary for data and memory,
// decimal for disks, and the edges where a unit changes.
t.test('data in binary units: bytes below 1 KiB, two digits below 10, one above', async (t) => {
  t.equal(formatBytes(0), '0 B')
  t.equal(formatBytes(1023), '1023 B')
  t.equal(formatBytes(1024), '1.00 KiB')
  t.equal(formatBytes(4096), '4.00 KiB')
  t.equal(formatBytes(12.3 * 2 ** 20), '12.3 MiB')
  t.equal(formatBytes(1.2 * 2 ** 30), '1.20 GiB')
  t.equal(formatBytes(3 * 2 ** 50), '3072.0 TiB', 'TiB is the largest unit')
})

t.test('disks in decimal units, as they are sold', async (t) => {
  t.equal(formatDiskSize(512), '512 B')
  t.equal(formatDiskSize(8 * 2 ** 30), '8.6 GB')
  t.equal(formatDiskSize(2000398934016), '2.0 TB')
  t.equal(formatDiskSize(4000787030016), '4.0 TB')
  t.equal(formatDiskSize(999_999), '1000.0 kB')
})

t.test('memory always in GiB', async (t) => {
  t.equal(formatGiB(1.5 * 2 ** 30), '1.5 GiB')
  t.equal(formatGiB(2 ** 29), '0.5 GiB')
})
