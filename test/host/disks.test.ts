import { readFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { diskPath, diskPaths, pinnedFacts } from '../../cli/host/disks.js'
import type { Host } from '../../cli/host/host-schema.js'
import { loadHostSource } from '../../cli/host/load-host.js'
import { renderDisko } from '../../cli/nix/render-disko.js'
import { renderKeystoneOptions } from '../../cli/nix/render-keystone.js'
import { repoRoot } from '../helpers/temp-fleet.js'

// storage.disks entries: a by-id path, or the same path with the size and serial deploy pinned.

const WD = (n: number) => `/dev/disk/by-id/ata-WDC_WD40EFRX-68N32N0_WD-WCC7K0XXXXX${n}`
const storage1 = readFileSync(path.join(repoRoot, 'hosts/storage1.yaml'), 'utf8')
const DISKS = `    - ${WD(1)}\n    - ${WD(2)}\n`

// storage1.yaml with its two disk lines replaced by `lines`.
const withDisks = (lines: string) => {
  if (!storage1.includes(DISKS)) throw new Error('hosts/storage1.yaml changed its disks')
  return storage1.replace(DISKS, lines)
}
// The line of the first disk, where problems about it point.
const FIRST = storage1.split('\n').indexOf(`    - ${WD(1)}`) + 1
const load = (source: string) => loadHostSource(source, 'hosts/storage1.yaml')
const problemsOf = (source: string) => {
  const result = load(source)
  return result.ok ? [] : result.problems
}
const hostOf = (source: string): Host => {
  const result = load(source)
  if (!result.ok) throw new Error(JSON.stringify(result.problems))
  return result.loaded.host
}

const PINNED = `    - path: ${WD(1)}\n      sizeBytes: 4000787030016\n      serial: WD-WCC7K0XXXXX1\n    - path: ${WD(2)}\n`

t.test('a pinned disk loads as an object; facts left out are null', async (t) => {
  const host = hostOf(withDisks(PINNED))
  t.same(host.storage.disks, [
    { path: WD(1), sizeBytes: 4000787030016, serial: 'WD-WCC7K0XXXXX1' },
    { path: WD(2), sizeBytes: null, serial: null },
  ])
  t.same(diskPaths(host.storage), [WD(1), WD(2)])
  t.equal(diskPath(WD(1)), WD(1))
  t.same(pinnedFacts(host.storage.disks[0]!), {
    sizeBytes: 4000787030016,
    serial: 'WD-WCC7K0XXXXX1',
  })
  t.same(pinnedFacts(WD(1)), { sizeBytes: null, serial: null })
})

t.test('the generated Nix does not depend on the form of the entries', async (t) => {
  const plain = hostOf(storage1)
  const pinned = hostOf(withDisks(PINNED))
  t.same(renderDisko(pinned), renderDisko(plain))
  t.same(renderKeystoneOptions(pinned), renderKeystoneOptions(plain))
})

t.test('a wrong entry is one problem, located, with the fix', async (t) => {
  const byId =
    'device names such as /dev/sda change between boots and can wipe the wrong disk; run `ls -l /dev/disk/by-id/` on the machine and use that path'
  t.match(problemsOf(withDisks(`    - path: /dev/sda\n      serial: X1\n    - ${WD(2)}\n`)), [
    {
      line: FIRST,
      col: 13,
      path: 'storage.disks[0].path',
      message: 'expected a /dev/disk/by-id/ path, got `/dev/sda`',
      hint: byId,
    },
  ])
  t.match(problemsOf(withDisks(`    - /dev/sda\n    - ${WD(2)}\n`)), [
    {
      line: FIRST,
      col: 7,
      path: 'storage.disks[0]',
      message: 'expected a /dev/disk/by-id/ path, got `/dev/sda`',
      hint: byId,
    },
  ])
  t.match(problemsOf(withDisks(`    - 42\n    - ${WD(2)}\n`)), [
    { path: 'storage.disks[0]', message: 'expected text or a mapping, got `42`' },
  ])
  t.match(problemsOf(withDisks(`    - path: ${WD(1)}\n      serail: X1\n    - ${WD(2)}\n`)), [
    {
      path: 'storage.disks[0].serail',
      message: 'unknown key `serail`',
      hint: 'did you mean `serial`?',
    },
  ])
  t.match(problemsOf(withDisks(`    - path: ${WD(1)}\n      sizeBytes: 4T\n    - ${WD(2)}\n`)), [
    {
      path: 'storage.disks[0].sizeBytes',
      message: 'expected a whole number or null, got the text `4T`',
    },
  ])
  t.match(problemsOf(withDisks(`    - serial: X1\n    - ${WD(2)}\n`)), [
    { path: 'storage.disks[0].path', message: 'missing required key `path`' },
  ])
})

t.test('duplicates and partitions are found whatever the form', async (t) => {
  t.match(problemsOf(withDisks(`    - ${WD(1)}\n    - path: ${WD(1)}\n      serial: X1\n`)), [
    {
      path: 'storage.disks[1].path',
      message: `\`${WD(1)}\` is already listed as storage.disks[0]`,
      hint: 'list each disk once',
    },
  ])
  t.match(problemsOf(withDisks(`    - path: ${WD(1)}-part1\n    - ${WD(2)}\n`)), [
    {
      path: 'storage.disks[0].path',
      message: `expected a whole disk, got the partition \`${WD(1)}-part1\``,
      hint: `Keystone partitions the disk itself; use ${WD(1)}`,
    },
  ])
})
