import { readFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import {
  parseBootctlStatus,
  parseSbctlStatus,
  planSecureBootSteps,
  type SecureBootState,
} from '../../cli/deploy/secure-boot-state.js'
import type { Host } from '../../cli/host/host-schema.js'
import { loadFleet } from '../../cli/host/load-fleet.js'
import { repoRoot } from '../helpers/temp-fleet.js'

// Outputs laid out as the tools print them (no UEFI firmware here): `bootctl status` from the
// format strings of systemd 252's bootctl (Debian 252.39) and of a later one that drops
// "(disabled)"; `sbctl status` from cmd/sbctl/status.go, with the symbols of old and new
// releases and of SBCTL_UNICODE=0.
const fixture = (name: string) =>
  readFileSync(path.join(repoRoot, 'test/fixtures/secure-boot', name), 'utf8')

t.test('bootctl status: state, mode and the line recorded', async (t) => {
  const cases: [string, SecureBootState][] = [
    [
      'bootctl-252-enabled-user.txt',
      { secureBoot: 'enabled', mode: 'user', line: 'enabled (user)' },
    ],
    [
      'bootctl-252-enabled-deployed.txt',
      { secureBoot: 'enabled', mode: 'deployed', line: 'enabled (deployed)' },
    ],
    [
      'bootctl-252-disabled-setup.txt',
      { secureBoot: 'disabled', mode: 'setup', line: 'disabled (setup)' },
    ],
    [
      'bootctl-252-disabled-audit.txt',
      { secureBoot: 'disabled', mode: 'audit', line: 'disabled (audit)' },
    ],
    ['bootctl-252-disabled.txt', { secureBoot: 'disabled', mode: null, line: 'disabled' }],
    ['bootctl-newer-disabled.txt', { secureBoot: 'disabled', mode: null, line: 'disabled' }],
    [
      'bootctl-252-unsupported.txt',
      { secureBoot: 'unsupported', mode: null, line: 'disabled (unsupported)' },
    ],
    [
      'bootctl-252-not-efi.txt',
      { secureBoot: 'unsupported', mode: null, line: 'not booted with UEFI' },
    ],
  ]
  for (const [name, state] of cases) t.same(parseBootctlStatus(fixture(name)), state, name)
  t.same(parseBootctlStatus(''), { secureBoot: 'unknown', mode: null, line: 'unknown' })
  // On a terminal bootctl colours the word.
  const coloured = fixture('bootctl-252-enabled-user.txt').replace(
    'enabled (user)',
    '\x1b[0;1;32menabled\x1b[0m (user)',
  )
  t.same(parseBootctlStatus(coloured), {
    secureBoot: 'enabled',
    mode: 'user',
    line: 'enabled (user)',
  })
})

t.test('sbctl status: setup mode and Secure Boot, whatever the symbols', async (t) => {
  t.same(parseSbctlStatus(fixture('sbctl-setup-mode.txt')), {
    secureBoot: 'disabled',
    mode: 'setup',
    line: 'disabled (setup)',
  })
  t.same(parseSbctlStatus(fixture('sbctl-enabled.txt')), {
    secureBoot: 'enabled',
    mode: 'user',
    line: 'enabled (user)',
  })
  t.same(parseSbctlStatus(fixture('sbctl-disabled-ascii.txt')), {
    secureBoot: 'disabled',
    mode: null,
    line: 'disabled',
  })
  t.equal(parseSbctlStatus(fixture('sbctl-not-uefi.txt')).secureBoot, 'unsupported')
  t.equal(parseSbctlStatus('Installed:\t✓ sbctl is installed\n').secureBoot, 'unknown')
})

t.test('what enroll does in each state', async (t) => {
  const hosts = Object.fromEntries((await loadFleet(repoRoot)).map((l) => [l.host.name, l.host]))
  const desk1 = hosts.desk1!
  const withSecureBoot = (secureBoot: Partial<Host['secureBoot']>): Host => ({
    ...desk1,
    secureBoot: { ...desk1.secureBoot, ...secureBoot },
  })
  const provided = withSecureBoot({ enable: true, keys: 'provided', microsoftKeys: true })
  const bootctl = (name: string) => parseBootctlStatus(fixture(name))

  const setup = planSecureBootSteps(provided, bootctl('bootctl-252-disabled-setup.txt'))
  t.same(setup, {
    action: 'enroll-keys',
    commands: ['sbctl enroll-keys --microsoft'],
    message: 'the firmware is in setup mode; enrolling the host’s keys',
  })
  t.same(
    planSecureBootSteps(
      withSecureBoot({ microsoftKeys: false }),
      bootctl('bootctl-252-disabled-setup.txt'),
    ).commands,
    ['sbctl enroll-keys'],
    'without Microsoft’s keys, and without overriding sbctl’s option ROM check',
  )
  t.equal(
    planSecureBootSteps(provided, bootctl('bootctl-252-disabled-audit.txt')).action,
    'enroll-keys',
  )
  t.equal(
    planSecureBootSteps(provided, parseSbctlStatus(fixture('sbctl-setup-mode.txt'))).action,
    'enroll-keys',
  )

  const firstBoot = planSecureBootSteps(
    withSecureBoot({ keys: 'first-boot' }),
    bootctl('bootctl-252-disabled-setup.txt'),
  )
  t.equal(firstBoot.action, 'await-auto-enroll')
  t.match(firstBoot.commands, [/^test -f \/boot\/loader\/keys\/auto\/PK\.auth /])

  for (const name of ['bootctl-252-enabled-user.txt', 'bootctl-252-enabled-deployed.txt'])
    t.equal(planSecureBootSteps(provided, bootctl(name)).action, 'done', name)
  t.same(
    planSecureBootSteps(provided, bootctl('bootctl-252-enabled-user.txt')).message,
    'Secure Boot: enabled (user)',
  )

  t.equal(
    planSecureBootSteps(withSecureBoot({ enable: false }), bootctl('bootctl-252-disabled.txt'))
      .action,
    'skip',
  )

  const refused = planSecureBootSteps(provided, bootctl('bootctl-252-disabled.txt'))
  t.equal(refused.action, 'refuse')
  t.same(refused.commands, [])
  t.match(
    refused.message,
    /^Secure Boot is disabled and the firmware is not in setup mode: .*reset the Secure Boot keys to setup mode/,
  )
  t.match(planSecureBootSteps(provided, bootctl('bootctl-252-not-efi.txt')), {
    action: 'refuse',
    message: /boot the host in UEFI mode/,
  })
  t.match(planSecureBootSteps(provided, parseBootctlStatus('')), { action: 'refuse' })
})
