import type { Host } from '../host/host-schema.js'

// Secure Boot as `bootctl status` reports it (systemd src/boot/bootctl-status.c: "Secure Boot:
// enabled (user)", "disabled (setup)", …), and what enroll does about it. Lanzaboote's docs
// (docs/getting-started/enable-secure-boot.md) give the manual path, its CHANGELOG 1.0.0 the
// automatic one (prepare-sb-auto-enroll.service enrolls at the next boot).

export interface SecureBootState {
  secureBoot: 'enabled' | 'disabled' | 'unsupported' | 'unknown'
  mode: 'user' | 'setup' | 'audit' | 'deployed' | null
  line: string
}

export function parseBootctlStatus(text: string): SecureBootState {
  const match = /^\s*Secure Boot:\s*(enabled|disabled)(?:\s*\((user|setup|audit|deployed|disabled)\))?/m.exec(text)
  if (match === null)
    return /Not booted with EFI|not booted with UEFI/i.test(text)
      ? { secureBoot: 'unsupported', mode: null, line: 'not booted with UEFI' }
      : { secureBoot: 'unknown', mode: null, line: 'unknown' }
  const mode = match[2] === undefined || match[2] === 'disabled' ? null : (match[2] as SecureBootState['mode'])
  return { secureBoot: match[1] as 'enabled' | 'disabled', mode, line: `${match[1]}${mode === null ? '' : ` (${mode})`}` }
}

export interface SecureBootStep {
  action: 'enroll-keys' | 'await-auto-enroll' | 'done' | 'skip' | 'refuse'
  commands: string[]
  message: string
}

export function planSecureBootSteps(host: Host, state: SecureBootState): SecureBootStep {
  if (!host.secureBoot.enable) return { action: 'skip', commands: [], message: 'Secure Boot is off in the host file' }
  if (state.secureBoot === 'enabled') return { action: 'done', commands: [], message: `Secure Boot: ${state.line}` }
  if (state.mode === 'setup') {
    if (host.secureBoot.keys === 'first-boot')
      return { action: 'await-auto-enroll', commands: [], message: 'the firmware is in setup mode; Lanzaboote enrolls its keys at the next boot' }
    // sbctl enroll-keys refuses without Microsoft's keys unless told that option ROMs may fail.
    const flags = host.secureBoot.microsoftKeys ? '--microsoft' : '--yes-this-might-brick-my-machine'
    return { action: 'enroll-keys', commands: [`sbctl enroll-keys ${flags}`], message: 'the firmware is in setup mode; enrolling the host’s keys' }
  }
  return {
    action: 'refuse',
    commands: [],
    message: `Secure Boot is ${state.line} and the firmware is not in setup mode: enter the firmware setup, reset the Secure Boot keys to setup mode (do not "clear all keys" — that drops the dbx), and run enroll again; or set secureBoot.enable: false`,
  }
}
