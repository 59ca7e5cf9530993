// Trees of test and benchmark data, and what a restore must reproduce of them. Shared by the
// tests (test/helpers/agent.ts) and the benchmarks, so both check restores the same way.
import { createHash } from 'node:crypto'
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'

// Reproducible pseudo-random bytes (xorshift32), fast enough for hundreds of MiB.
export function pseudoRandom(seed, length) {
  const words = new Uint32Array(Math.ceil(length / 4))
  let x = seed >>> 0 || 1
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    words[i] = x
  }
  return Buffer.from(words.buffer, 0, length)
}

// Writes a tree: `files` maps relative paths to contents.
export async function writeTree(root, files) {
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true })
    await writeFile(path.join(root, rel), content)
  }
}

// Everything a restore must reproduce, per relative path: type, mode, size, content hash,
// symlink target and modification time (to the millisecond, what utimes can set). The
// millisecond is cut from the nanoseconds as integers: st.mtimeMs is a double that rounds
// x.999999 ms up to the next millisecond, while the restored file (set to the microsecond) does
// not, and the same time compared unequal.
export function describeTree(root) {
  const out = {}
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const file = path.join(dir, name)
      const rel = path.relative(root, file)
      const st = lstatSync(file, { bigint: true })
      const mode = (st.mode & 0o7777n).toString(8)
      const mtime = st.mtimeNs / 1_000_000n
      if (st.isSymbolicLink()) out[rel] = `symlink ${readlinkSync(file)}`
      else if (st.isDirectory()) {
        out[rel] = `dir ${mode} ${mtime}`
        walk(file)
      } else
        out[rel] =
          `file ${mode} ${st.size} ${mtime} ${createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 16)}`
    }
  }
  walk(root)
  return out
}
