import type { CpioEntry } from './cpio.js'

// The credstore boot's units (modules/disk/credstore-boot-units.nix, evaluated by Nix) as unit
// files for a plain systemd initrd — the rendering NixOS does for boot.initrd.systemd, done here
// for the rehearsal's Debian initrd: the same definitions, the same unit names and dependencies.
// Rules as in nixpkgs nixos/lib/systemd-lib.nix and systemd-unit-options.nix: list options
// become space-separated directives, unitConfig/serviceConfig keys are written as given (in Nix's
// sorted order), `script` becomes a `<name>-start` script run by ExecStart (bash -e), requiredBy
// and wantedBy become `<target>.requires/` and `.wants/` links, and a unit that systemd already
// ships (not a keystone-* one) gets a drop-in instead of a file of its own.

type Scalar = string | number | boolean
type Section = Record<string, Scalar | Scalar[]>

export interface UnitDefinition {
  description?: string
  after?: string[]
  before?: string[]
  requires?: string[]
  wants?: string[]
  conflicts?: string[]
  partOf?: string[]
  bindsTo?: string[]
  requiredBy?: string[]
  wantedBy?: string[]
  unitConfig?: Section
  serviceConfig?: Section
  script?: string
}

export interface MountDefinition extends UnitDefinition {
  what: string
  where: string
  type: string
  options?: string
}

export interface TimerDefinition extends UnitDefinition {
  timerConfig: Section
}

// Units by kind, as NixOS's systemd.{services,mounts,targets,timers} hold them.
export interface Units {
  services: Record<string, UnitDefinition>
  mounts?: MountDefinition[]
  targets?: Record<string, UnitDefinition>
  timers?: Record<string, TimerDefinition>
}

export interface BootUnits extends Units {
  keyCredential: string
  mounts: MountDefinition[]
  targets: Record<string, UnitDefinition>
}

export interface RenderedUnits {
  entries: CpioEntry[]
  // Unit names in the order they are rendered, for messages.
  units: string[]
}

const UNIT_DIR = '/etc/systemd/system'
export const SCRIPT_DIR = '/usr/lib/keystone'

const value = (v: Scalar | Scalar[]) =>
  Array.isArray(v) ? v.map(String).join(' ') : typeof v === 'boolean' ? String(v) : String(v)

function section(name: string, directives: Section): string {
  const keys = Object.keys(directives).sort()
  if (keys.length === 0) return ''
  return `[${name}]\n${keys.map((key) => `${key}=${value(directives[key]!)}`).join('\n')}\n`
}

function unitSection(def: UnitDefinition): Section {
  const out: Section = { ...def.unitConfig }
  if (def.description !== undefined) out.Description = def.description
  const lists: [keyof UnitDefinition, string][] = [
    ['after', 'After'],
    ['before', 'Before'],
    ['requires', 'Requires'],
    ['wants', 'Wants'],
    ['conflicts', 'Conflicts'],
    ['partOf', 'PartOf'],
    ['bindsTo', 'BindsTo'],
  ]
  for (const [field, directive] of lists) {
    const list = def[field] as string[] | undefined
    if (list !== undefined && list.length > 0) out[directive] = list
  }
  return out
}

// systemd.unit(5): a mount unit is named after its path, `/` turned into `-`. The rehearsal's
// paths need no \x escapes; anything else is refused rather than escaped wrongly.
export function mountUnitName(where: string): string {
  if (!/^\/[A-Za-z0-9_/.]+$/.test(where) || where.includes('//') || where.endsWith('/'))
    throw new Error(`mount unit for ${where}: only plain absolute paths are rendered`)
  return `${where.slice(1).replaceAll('/', '-')}.mount`
}

export function renderUnits(units: Units): RenderedUnits {
  const entries: CpioEntry[] = [
    { path: UNIT_DIR, type: 'dir' },
    { path: SCRIPT_DIR, type: 'dir' },
  ]
  const names: string[] = []
  const dirs = new Set<string>()
  const dir = (path: string) => {
    if (!dirs.has(path)) entries.push({ path, type: 'dir' })
    dirs.add(path)
  }
  const links = (name: string, def: UnitDefinition) => {
    for (const [targets, suffix] of [
      [def.requiredBy ?? [], 'requires'],
      [def.wantedBy ?? [], 'wants'],
    ] as const)
      for (const target of targets) {
        dir(`${UNIT_DIR}/${target}.${suffix}`)
        entries.push({
          path: `${UNIT_DIR}/${target}.${suffix}/${name}`,
          type: 'symlink',
          target: `${UNIT_DIR}/${name}`,
        })
      }
  }
  const emit = (name: string, text: string) => {
    names.push(name)
    if (name.startsWith('keystone-') || name.endsWith('.mount'))
      entries.push({ path: `${UNIT_DIR}/${name}`, type: 'file', data: text })
    else {
      dir(`${UNIT_DIR}/${name}.d`)
      entries.push({ path: `${UNIT_DIR}/${name}.d/overrides.conf`, type: 'file', data: text })
    }
  }

  for (const [base, def] of Object.entries(units.services).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const name = `${base}.service`
    const service: Section = { ...def.serviceConfig }
    if (def.script !== undefined) {
      const script = `${SCRIPT_DIR}/${base}-start`
      entries.push({
        path: script,
        type: 'file',
        mode: 0o755,
        data: `#!/bin/bash -e\n${def.script}`,
      })
      service.ExecStart = script
    }
    emit(
      name,
      [section('Unit', unitSection(def)), section('Service', service)].filter(Boolean).join('\n'),
    )
    links(name, def)
  }
  for (const mount of units.mounts ?? []) {
    const name = mountUnitName(mount.where)
    const directives: Section = { What: mount.what, Where: mount.where, Type: mount.type }
    if (mount.options !== undefined) directives.Options = mount.options
    emit(name, [section('Unit', unitSection(mount)), section('Mount', directives)].join('\n'))
    links(name, mount)
  }
  for (const [base, def] of Object.entries(units.targets ?? {})) {
    const name = `${base}.target`
    emit(name, section('Unit', unitSection(def)))
    links(name, def)
  }
  for (const [base, def] of Object.entries(units.timers ?? {})) {
    const name = `${base}.timer`
    emit(name, [section('Unit', unitSection(def)), section('Timer', def.timerConfig)].join('\n'))
    links(name, def)
  }
  return { entries, units: names }
}
