import type { LoadedHost } from '../host/load-host.js'
import { emitNix, nixRaw } from './emit.js'
import { withHeader } from './generated-file.js'
import { renderDisko } from './render-disko.js'
import { renderKeystoneOptions } from './render-keystone.js'

export interface GeneratedFile {
  // Relative to the fleet root, e.g. `hosts/web1/disko.nix`.
  path: string
  content: string
  // Data files evaluate to exactly this JSON value (the round-trip rule); modules have none.
  data?: unknown
}

export interface RenderOptions {
  // Whether hosts/<name>/facter.json exists (written by `keystone deploy`'s hardware phase).
  hasFacterReport?: boolean
}

// Every file `keystone generate` writes for one host. Pure: same host, same bytes.
export function renderHost(loaded: LoadedHost, options: RenderOptions = {}): GeneratedFile[] {
  const { host, file } = loaded
  const command = `keystone generate ${host.name}`
  const dir = `hosts/${host.name}`
  const dataFile = (name: string, value: Parameters<typeof emitNix>[0]): GeneratedFile => ({
    path: `${dir}/${name}`,
    content: withHeader(file, command, emitNix(value) + '\n'),
    data: value,
  })

  const imports = [nixRaw('keystoneModules.default'), nixRaw('./disko.nix'), nixRaw('./keystone.nix')]
  const module: Record<string, Parameters<typeof emitNix>[0]> = { imports }
  // nixos-facter's report replaces hardware-configuration.nix (nixpkgs hardware.facter.reportPath).
  if (options.hasFacterReport === true) module.hardware = { facter: { reportPath: nixRaw('./facter.json') } }
  const defaultNix = [
    '# The host as a NixOS module. `keystoneModules` is passed by `keystone.lib.mkFleet`.',
    `{ keystoneModules, ... }:`,
    emitNix(module),
    '',
  ].join('\n')

  return [
    { path: `${dir}/default.nix`, content: withHeader(file, command, defaultNix) },
    dataFile('disko.nix', renderDisko(host)),
    dataFile('keystone.nix', renderKeystoneOptions(host)),
  ]
}
