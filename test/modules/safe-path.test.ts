import path from 'node:path'
import t from 'tap'
import { unsafePath } from '../../cli/host/safe-path.js'
import { emitNix } from '../../cli/nix/emit.js'
import { needs } from '../helpers/needs.js'
import { evalNixText } from '../helpers/nix.js'

// The sync agent module's path type (modules/sync-agent/safe-path.nix, evaluated by the real
// nix-instantiate) accepts exactly what the CLI's host-file check accepts, so a module written by
// hand is held to the same rule as a host file. (A Nix string cannot hold a NUL at all.)
const file = path.resolve(import.meta.dirname, '../../modules/sync-agent/safe-path.nix')
const skip = needs('nix-instantiate')

const CASES = [
  '/',
  '/srv/data',
  '/var/lib/important',
  '/home/alice/.config',
  '/srv/a_b-c.d+e@f,g=h:i',
  '/var/lib/../../etc',
  '/srv/./data',
  '/srv/..',
  '/srv//data',
  '/srv/data/',
  'srv/data',
  '',
  '/srv/a b',
  '/srv/a\tb',
  '/srv/a\nExecStartPre=/bin/sh',
  '/srv/%h',
  '/srv/${HOME}',
  '/srv/$(id)',
  '/srv/a"b',
  "/srv/a'b",
  '/srv/a\\b',
  '/srv/a;b',
  '/srv/\u0007',
  '/srv/é',
]

t.test(
  'the module’s path type and the host-file check agree on every case',
  { skip },
  async (t) => {
    const nix = (await evalNixText(
      `map (import ${file}).isSafePath ${emitNix(CASES)}`,
    )) as boolean[]
    CASES.forEach((candidate, i) => {
      t.equal(nix[i], unsafePath(candidate) === undefined, JSON.stringify(candidate))
    })
    t.ok(
      nix.filter(Boolean).length >= 5 && nix.filter((ok) => !ok).length >= 15,
      'both kinds are tried',
    )
  },
)
