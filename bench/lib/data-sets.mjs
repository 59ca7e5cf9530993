// The benchmarks' data sets, as lists of [relative path, size], and how they are written and
// changed. Shared by bench/sync.mjs (every tool, every server) and bench/profile-sync.mjs (the
// agent alone, profiled), so a profile runs on exactly the files the benchmark measures.
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs'
import path from 'node:path'
import { pseudoRandom } from './tree.mjs'

const KiB = 1024
const MiB = 1024 * KiB

// `scale` 0.1 is --quick: a tenth of the files (and of the large files' size).
export function dataSets(scale = 1) {
  return {
    mixed: () => {
      const files = []
      let seed = 1
      for (let i = 0; i < 2000 * scale; i++)
        files.push([`small/d${i % 40}/f${i}.dat`, 1 * KiB + ((seed++ * 7919) % (63 * KiB))])
      for (let i = 0; i < 20 * scale; i++)
        files.push([`medium/m${i}.bin`, 1 * MiB + ((seed++ * 104729) % (7 * MiB))])
      for (let i = 0; i < 2; i++) files.push([`large/l${i}.bin`, Math.round(128 * MiB * scale)])
      return files
    },
    'many-small': () => Array.from({ length: 20000 * scale }, (_, i) => [`d${i % 100}/f${i}.txt`, 4 * KiB]),
    // Per-file costs and nothing else: 0–2 KiB each (one in 64 empty), five levels deep, 10 files
    // per directory at the bottom.
    tiny: (count = 200000 * scale) =>
      Array.from({ length: count }, (_, i) => {
        const d = Math.floor(i / 10)
        const dirs = [d % 4, Math.floor(d / 4) % 5, Math.floor(d / 20) % 10, Math.floor(d / 200) % 10, Math.floor(d / 2000)]
        return [`${dirs.map((n, level) => `l${level}-${n}`).join('/')}/t${i}`, i % 64 === 0 ? 0 : (i * 2654435761) % (2 * KiB + 1)]
      }),
  }
}

// Every file different (one seed per file): nothing deduplicates by accident.
export function generate(dir, files) {
  const made = new Set()
  files.forEach(([rel, size], i) => {
    const parent = path.dirname(path.join(dir, rel))
    if (!made.has(parent)) mkdirSync(parent, { recursive: true })
    made.add(parent)
    writeFileSync(path.join(dir, rel), pseudoRandom(i + 1, size))
  })
}

// 4 KiB changed at a pseudo-random offset in 1 % of the files (every 100th); a file smaller than
// that is rewritten whole, at the same size.
export function change(dir, files) {
  let changed = 0
  for (let i = 0; i < files.length; i += 100) {
    const [rel, size] = files[i]
    const length = Math.min(4 * KiB, size)
    if (length === 0) continue
    const fd = openSync(path.join(dir, rel), 'r+')
    writeSync(fd, pseudoRandom(9000 + i, length), 0, length, Math.max(0, ((i * 2654435761) >>> 0) % Math.max(1, size - 4 * KiB)))
    closeSync(fd)
    changed++
  }
  return changed
}

