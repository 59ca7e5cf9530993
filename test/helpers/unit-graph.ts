import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import {
  copyFile,
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  symlink,
} from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { escapeSystemdPath } from '../../cli/rehearsal/initrd-overlay.js'

// Units as the real systemd sees them: a set rendered by cli/rehearsal/render-units.ts (the
// rehearsal's initrd overlay, or a module's units), unpacked into a root of its own beside the
// host's /usr/lib/systemd/system for the units systemd ships (initrd-switch-root.target, ...).
// For an initrd, initrdRoot adds the units the real systemd-cryptsetup-generator and
// systemd-fstab-generator make of its crypttab and fstab (run in initrd mode).
const run = promisify(execFile)
const GENERATORS = '/usr/lib/systemd/system-generators'
const UNIT_DIR = 'etc/systemd/system'

export async function initrdRoot(overlay: Uint8Array): Promise<string> {
  const root = await unitRoot(overlay)
  // Generators write into one directory; it is the unit directory here, where they would be
  // /run/systemd/generator in a booted initrd (systemd.generator(7)). SYSTEMD_CRYPTTAB and
  // SYSTEMD_FSTAB point them at the overlay's files; SYSTEMD_IN_INITRD makes the fstab
  // generator read the initrd's own fstab, whose entries name /sysroot.
  const out = path.join(root, UNIT_DIR)
  const env = {
    ...process.env,
    SYSTEMD_IN_INITRD: '1',
    SYSTEMD_CRYPTTAB: path.join(root, 'etc/crypttab'),
    SYSTEMD_FSTAB: path.join(root, 'etc/fstab'),
    SYSTEMD_SYSROOT_FSTAB: '/dev/null',
    SYSTEMD_PROC_CMDLINE: 'rw',
  }
  for (const generator of ['systemd-cryptsetup-generator', 'systemd-fstab-generator'])
    await run(path.join(GENERATORS, generator), [out, out, out], { env })
  return root
}

// Units rendered by cli/rehearsal/render-units.ts (a newc archive), unpacked into a root of their
// own beside the host's /usr/lib/systemd/system.
export async function unitRoot(archive: Uint8Array): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'keystone-units-'))
  const cpio = run('cpio', ['-idm', '--quiet', '--no-absolute-filenames'], { cwd: root })
  cpio.child.stdin!.end(archive)
  await cpio
  await mkdir(path.join(root, 'usr/lib/systemd'), { recursive: true })
  await cp('/usr/lib/systemd/system', path.join(root, 'usr/lib/systemd/system'), {
    recursive: true,
    verbatimSymlinks: true,
  })
  // What the generated cryptsetup unit runs: verify checks that it is there.
  await copyFile(
    '/usr/lib/systemd/systemd-cryptsetup',
    path.join(root, 'usr/lib/systemd/systemd-cryptsetup'),
  )
  if (!existsSync(path.join(root, 'lib'))) await symlink('usr/lib', path.join(root, 'lib'))
  return root
}

// `systemd-analyze verify` over the units, in that root: a missing unit, a bad directive or a
// command that is not there is a line of its output (systemd-analyze(1)).
export async function verifyUnits(root: string, units: string[]): Promise<string[]> {
  const result = await run(
    'systemd-analyze',
    ['verify', `--root=${root}`, '--man=no', '--generators=no', ...units],
    { env: { ...process.env, SYSTEMD_LOG_COLOR: '0' } },
  ).catch((error: { stdout?: string; stderr?: string }) => ({
    stdout: error.stdout ?? '',
    stderr: `${error.stderr ?? ''}\nsystemd-analyze verify failed`,
  }))
  return `${result.stdout}\n${result.stderr}`
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
}

export type UnitGraph = Map<string, Map<string, string[]>>

// Every unit file and drop-in under the root's /etc/systemd/system, directive by directive, with
// the `<unit>.requires/` and `.wants/` links as Requires=/Wants= of the unit they belong to.
export async function loadUnitGraph(root: string): Promise<UnitGraph> {
  const graph: UnitGraph = new Map()
  const add = (unit: string, key: string, values: string[]) => {
    const directives = graph.get(unit) ?? new Map<string, string[]>()
    directives.set(key, [...(directives.get(key) ?? []), ...values])
    graph.set(unit, directives)
  }
  const parse = (unit: string, text: string) => {
    for (const line of text.split('\n')) {
      const match = /^([A-Za-z]+)=(.*)$/.exec(line.trim())
      if (match) add(unit, match[1]!, match[2]!.split(/\s+/).filter(Boolean))
    }
  }
  const dir = path.join(root, UNIT_DIR)
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name)
    if (entry.isFile()) parse(entry.name, await readFile(file, 'utf8'))
    else if (entry.isDirectory() && entry.name.endsWith('.d'))
      for (const dropIn of await readdir(file))
        parse(entry.name.slice(0, -2), await readFile(path.join(file, dropIn), 'utf8'))
    else if (entry.isDirectory()) {
      const link = /^(.+)\.(requires|wants)$/.exec(entry.name)
      if (link)
        for (const target of await readdir(file))
          add(link[1]!, link[2] === 'requires' ? 'Requires' : 'Wants', [
            path.basename(await readlink(path.join(file, target)).catch(() => target)),
          ])
    }
  }
  // Dependencies systemd adds by itself (systemd.mount(5), "Implicit Dependencies"): a mount of a
  // block device binds to its .device unit; RequiresMountsFor= requires the mounts of the path
  // and its parents.
  for (const [unit, directives] of graph) {
    const what = directives.get('What')?.[0]
    if (unit.endsWith('.mount') && what?.startsWith('/dev/'))
      add(unit, 'BindsTo', [`${escapeSystemdPath(what)}.device`])
    for (const where of directives.get('RequiresMountsFor') ?? [])
      add(unit, 'Requires', mountUnitsFor(where))
  }
  return graph
}

const mountUnitsFor = (where: string) => {
  const parts = where.split('/').filter(Boolean)
  return parts.map((_, i) => `${escapeSystemdPath('/' + parts.slice(0, i + 1).join('/'))}.mount`)
}

// The units a stop of `stopped` stops too, as systemd 252.39 computes it (read in its sources):
// - src/core/unit-dependency-atom.c lines 44–84 give UNIT_ATOM_PROPAGATE_STOP to RequiredBy,
//   RequisiteOf, BoundBy, ConsistsOf and PropagatesStopTo: a stop reaches every unit that names
//   the stopped one in Requires=, Requisite=, BindsTo=, PartOf= or StopPropagatedFrom=, and every
//   unit the stopped one names in PropagatesStopTo=;
// - src/core/transaction.c lines 1058–1086 add that stop job for each such unit without looking at
//   its state (job_type_collapse, src/core/job.c lines 433–465, keeps JOB_STOP as it is), and
//   lines 728–729 and 757–758 skip transaction_collect_garbage for JOB_ISOLATE, which is how
//   initrd-cleanup.service starts initrd-switch-root.target. So the walk ignores states too.
const STOP_FROM_NAMED = ['Requires', 'Requisite', 'BindsTo', 'PartOf', 'StopPropagatedFrom']

export function stoppedWith(graph: UnitGraph, stopped: string[]): Map<string, string> {
  const via = new Map<string, string>(stopped.map((unit) => [unit, unit]))
  const queue = [...stopped]
  const reach = (unit: string, other: string, how: string) => {
    if (via.has(other)) return
    via.set(other, `${via.get(unit)} → ${other} (${how})`)
    queue.push(other)
  }
  while (queue.length > 0) {
    const unit = queue.shift()!
    for (const [other, directives] of graph)
      for (const key of STOP_FROM_NAMED)
        if ((directives.get(key) ?? []).includes(unit)) reach(unit, other, `${key}=${unit}`)
    for (const other of graph.get(unit)?.get('PropagatesStopTo') ?? [])
      reach(unit, other, `PropagatesStopTo= of ${unit}`)
  }
  return via
}
