import type { Host } from '../host/host-schema.js'

// Secure Boot as the host reports it, and what enroll does about it. Lanzaboote's docs give the
// manual path (docs/getting-started/enable-secure-boot.md: `sbctl enroll-keys --microsoft` in
// setup mode, then `bootctl status` shows "Secure Boot: enabled (user)"); its CHANGELOG 1.0.0
// the automatic one (prepare-sb-auto-enroll.service stages the keys, systemd-boot enrolls them
// at the next boot).

export interface SecureBootState {
  secureBoot: 'enabled' | 'disabled' | 'unsupported' | 'unknown'
  mode: 'user' | 'setup' | 'audit' | 'deployed' | null
  // How it is shown and recorded: `enabled (user)`, `disabled (setup)`, `disabled`.
  line: string
}

const MODES = ['user', 'setup', 'audit', 'deployed'] as const
const withoutColour = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, '')
const lineOf = (secureBoot: string, mode: SecureBootState['mode']) =>
  mode === null ? secureBoot : `${secureBoot} (${mode})`

// systemd 252 src/boot/bootctl.c prints `   Secure Boot: %sd (%s)` with enable/disable and
// secure_boot_mode_to_string() (src/fundamental/efivars-fundamental.c: unsupported, disabled,
// unknown, audit, deployed, setup, user), so "disabled (disabled)"; later versions print plain
// "disabled" and add "tainted". Without UEFI it prints "Not booted with EFI" instead.
export function parseBootctlStatus(text: string): SecureBootState {
  const plain = withoutColour(text)
  const match = /^\s*Secure Boot:\s*(enabled|disabled)(?:\s*\(([a-z]+)\))?/m.exec(plain)
  if (match === null)
    return /Not booted with (U?EFI)/i.test(plain)
      ? { secureBoot: 'unsupported', mode: null, line: 'not booted with UEFI' }
      : { secureBoot: 'unknown', mode: null, line: 'unknown' }
  const word = match[2]
  if (word === 'unsupported' || word === 'unknown')
    return { secureBoot: word, mode: null, line: `${match[1]} (${word})` }
  const mode = MODES.find((candidate) => candidate === word) ?? null
  const secureBoot = match[1] as 'enabled' | 'disabled'
  return { secureBoot, mode, line: lineOf(secureBoot, mode) }
}

// sbctl's cmd/sbctl/status.go prints `Setup Mode:\t<sym> Enabled|Disabled` and `Secure
// Boot:\t<sym> Enabled|Disabled`, the symbol ✓/✗ in older releases, ✔/✘ now, [+]/[-] with
// SBCTL_UNICODE=0. It cannot tell user from deployed mode: Secure Boot on outside setup mode is
// taken as user mode, the usual case.
export function parseSbctlStatus(text: string): SecureBootState {
  const plain = withoutColour(text)
  if (/not booted with UEFI/i.test(plain))
    return { secureBoot: 'unsupported', mode: null, line: 'not booted with UEFI' }
  const flag = (label: string) =>
    new RegExp(`^\\s*${label}:[^\\n]*?\\b(Enabled|Disabled)\\s*$`, 'mi').exec(plain)?.[1]
  const setupMode = flag('Setup Mode')
  const secureBootFlag = flag('Secure Boot')
  if (setupMode === undefined || secureBootFlag === undefined)
    return { secureBoot: 'unknown', mode: null, line: 'unknown' }
  const secureBoot = secureBootFlag === 'Enabled' ? 'enabled' : 'disabled'
  const mode = setupMode === 'Enabled' ? 'setup' : secureBoot === 'enabled' ? 'user' : null
  return { secureBoot, mode, line: lineOf(secureBoot, mode) }
}

export interface SecureBootStep {
  // `skip` when the host file does not want Secure Boot.
  action: 'enroll-keys' | 'await-auto-enroll' | 'done' | 'skip' | 'refuse'
  // Run on the host in this order; a reboot follows `enroll-keys` and `await-auto-enroll`.
  commands: string[]
  message: string
}

// Lanzaboote's prepare-sb-auto-enroll.service writes {PK,KEK,db}.auth there (its unit is guarded
// by ConditionPathExists on them, nix/modules/lanzaboote.nix); Keystone's ESP is /boot.
const AUTO_ENROLL_KEYS = '/boot/loader/keys/auto/PK.auth'

export function planSecureBootSteps(host: Host, state: SecureBootState): SecureBootStep {
  if (!host.secureBoot.enable)
    return { action: 'skip', commands: [], message: 'Secure Boot is off in the host file' }
  if (state.secureBoot === 'enabled' && state.mode !== 'setup')
    return { action: 'done', commands: [], message: `Secure Boot: ${state.line}` }
  if (state.secureBoot === 'unsupported')
    return {
      action: 'refuse',
      commands: [],
      message: `the firmware offers no Secure Boot (bootctl: ${state.line}): boot the host in UEFI mode with Secure Boot support, or set secureBoot.enable: false in the host file`,
    }
  // In audit mode the firmware also accepts a new platform key (UEFI 2.5+: AuditMode implies
  // SetupMode), so it is treated as setup mode.
  if (state.mode === 'setup' || state.mode === 'audit') {
    if (host.secureBoot.keys === 'first-boot')
      return {
        action: 'await-auto-enroll',
        commands: [
          `test -f ${AUTO_ENROLL_KEYS} || { echo 'prepare-sb-auto-enroll.service has not staged the keys in /boot/loader/keys/auto (systemctl status prepare-sb-auto-enroll)' >&2; exit 1; }`,
        ],
        message:
          'the firmware is in setup mode; systemd-boot enrolls the keys Lanzaboote staged at the next boot',
      }
    // Without Microsoft's keys sbctl refuses when the TPM event log shows option ROMs
    // (cmd/sbctl/enroll-keys.go, CheckEventlogOprom): that refusal is left to stand.
    return {
      action: 'enroll-keys',
      commands: [
        host.secureBoot.microsoftKeys ? 'sbctl enroll-keys --microsoft' : 'sbctl enroll-keys',
      ],
      message: 'the firmware is in setup mode; enrolling the host’s keys',
    }
  }
  if (state.secureBoot === 'unknown')
    return {
      action: 'refuse',
      commands: [],
      message: `the Secure Boot state cannot be read from \`bootctl status\`: check that the host booted through systemd-boot, or set secureBoot.enable: false in the host file`,
    }
  return {
    action: 'refuse',
    commands: [],
    message: `Secure Boot is ${state.line} and the firmware is not in setup mode: enter the firmware setup, reset the Secure Boot keys to setup mode (do not "clear all keys" — that drops the dbx), and run enroll again; or set secureBoot.enable: false`,
  }
}
