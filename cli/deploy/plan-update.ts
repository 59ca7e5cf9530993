import type { Host } from '../host/host-schema.js'
import { shellQuote } from './render-plan.js'

// One host's update as data (STYLE.md §4): build locally, copy the closure, make it the boot
// entry, then switch under systemd-run, so that a dropped SSH connection cannot leave a
// half-switched host (the unit runs on; the boot entry is already the new system).

export const SYSTEM_PROFILE = '/nix/var/nix/profiles/system'

export interface UpdateSteps {
  build: string[]
  copy: (storePath: string) => { args: string[]; destination: string }
  // Remote commands, in order, given the built system's store path.
  register: (storePath: string) => string
  switch: (storePath: string) => string
  unit: string
}

export function planUpdate(host: Host, fleetRoot: string, stamp: string): UpdateSteps {
  const sudo = host.ssh.user === 'root' ? '' : 'sudo -n '
  const unit = `keystone-switch-${stamp}`
  const destination = `ssh-ng://${host.ssh.user}@${host.ssh.address}`
  // systemd-run(1): --wait returns the service's result; no --pipe, so the switch does not share
  // the SSH session's fate. The unit name lets an admin find it after a lost connection.
  const run = (storePath: string, action: 'boot' | 'switch', name: string) =>
    `${sudo}systemd-run --unit=${name} --description=${shellQuote(`keystone update: ${action}`)} --service-type=exec --wait --quiet --no-ask-password ${shellQuote(`${storePath}/bin/switch-to-configuration`)} ${action}`
  return {
    // nix build: the host's toplevel from the fleet's flake (lib.mkFleet's nixosConfigurations).
    build: [
      'build',
      '--no-link',
      '--print-out-paths',
      `${fleetRoot}#nixosConfigurations.${host.name}.config.system.build.toplevel`,
    ],
    copy: (storePath) => ({ args: ['copy', '--to', destination, storePath], destination }),
    // nixos-rebuild's order: the profile first, then the boot loader entry for it.
    register: (storePath) =>
      `${sudo}nix-env -p ${SYSTEM_PROFILE} --set ${shellQuote(storePath)} && ${run(storePath, 'boot', `keystone-boot-${stamp}`)}`,
    switch: (storePath) => run(storePath, 'switch', unit),
    unit,
  }
}

// What `keystone update --dry-run` shows of one host: the same steps, with `<system>` for the
// store path the build would print, and why the host would fail before anything runs.
export interface UpdatePreview {
  host: string
  build: string[]
  copy: string[]
  bootEntry: string
  switch: string
  unit: string
  refused?: string
}

export const SYSTEM_PLACEHOLDER = '<system>'

export function previewUpdate(host: Host, fleetRoot: string, stamp: string): UpdatePreview {
  const steps = planUpdate(host, fleetRoot, stamp)
  return {
    host: host.name,
    build: ['nix', ...steps.build],
    copy: ['nix', ...steps.copy(SYSTEM_PLACEHOLDER).args],
    bootEntry: steps.register(SYSTEM_PLACEHOLDER),
    switch: steps.switch(SYSTEM_PLACEHOLDER),
    unit: steps.unit,
    ...(host.ssh.hostKey === null && {
      refused: `ssh.hostKey is not pinned: deploy the host first, or pin its key in hosts/${host.name}.yaml`,
    }),
  }
}
