import { execFileSync } from 'node:child_process'
import { availableParallelism } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { mapLimit } from '../../cli/fs/map-limit.js'
import { needs } from '../helpers/needs.js'
import { nixParse } from '../helpers/nix.js'

// Every .nix file in the work tree parses, found afresh on each run (tracked or new, minus what
// .gitignore hides, so node_modules and dist stay out) and reported file by file.
const root = path.resolve(import.meta.dirname, '../..')

// Each parse is a ~50 ms process start; a few at a time keeps 60 files well under a second.
const PARSES_IN_FLIGHT = Math.max(2, Math.min(8, availableParallelism()))

function listNixFiles(): string[] {
  const args = ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', '*.nix']
  return execFileSync('git', args, { cwd: root, encoding: 'utf8' })
    .split('\0')
    .filter((file) => file.endsWith('.nix'))
    .sort()
}

// nix-instantiate's message names FILE:LINE:COL; an empty string means the file parsed.
async function parseError(file: string): Promise<string> {
  return nixParse(path.join(root, file)).then(
    () => '',
    (error: { stderr?: string; message?: string }) =>
      (error.stderr || error.message || 'nix-instantiate --parse failed').trim(),
  )
}

t.test(
  'every .nix file parses with nix-instantiate --parse',
  { skip: needs('nix-instantiate') },
  async (t) => {
    const files = listNixFiles()
    t.ok(files.length >= 9, `found ${files.length} .nix files`)
    const errors = await mapLimit(files, PARSES_IN_FLIGHT, parseError)
    files.forEach((file, i) => {
      t.test(file, async (t) => {
        t.equal(errors[i], '', `${file} parses`)
      })
    })
  },
)
