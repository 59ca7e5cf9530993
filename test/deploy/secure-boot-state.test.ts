import t from 'tap'
import { parseBootctlStatus, planSecureBootSteps } from '../../cli/deploy/secure-boot-state.js'
import { loadFleet } from '../../cli/host/load-fleet.js'
import { repoRoot } from '../helpers/temp-fleet.js'

// bootctl status as systemd prints it (src/boot/bootctl-status.c), and what enroll does.
const status = (secureBoot: string) =>
  `System:\n      Firmware: UEFI 2.70 (American Megatrends 5.17)\n Firmware Arch: x64\n   Secure Boot: ${secureBoot}\n  TPM2 Support: yes\n`

t.test('bootctl status is read as state and mode', async (t) => {
  t.same(parseBootctlStatus(status('enabled (user)')), { secureBoot: 'enabled', mode: 'user', line: 'enabled (user)' })
  t.same(parseBootctlStatus(status('disabled (setup)')), { secureBoot: 'disabled', mode: 'setup', line: 'disabled (setup)' })
  t.same(parseBootctlStatus(status('disabled (disabled)')), { secureBoot: 'disabled', mode: null, line: 'disabled' })
  t.same(parseBootctlStatus(status('disabled')), { secureBoot: 'disabled', mode: null, line: 'disabled' })
  t.equal(parseBootctlStatus('Not booted with EFI\n').secureBoot, 'unsupported')
})

t.test('enroll: keys in setup mode, Lanzaboote’s own at first boot, done when on, refused otherwise', async (t) => {
  const hosts = Object.fromEntries((await loadFleet(repoRoot)).map((l) => [l.host.name, l.host]))
  const desk1 = hosts.desk1!
  t.same(planSecureBootSteps(desk1, parseBootctlStatus(status('disabled (setup)'))).commands, ['sbctl enroll-keys --microsoft'])
  const noMicrosoft = { ...desk1, secureBoot: { ...desk1.secureBoot, microsoftKeys: false } }
  t.same(planSecureBootSteps(noMicrosoft, parseBootctlStatus(status('disabled (setup)'))).commands, ['sbctl enroll-keys --yes-this-might-brick-my-machine'])
  const firstBoot = { ...desk1, secureBoot: { ...desk1.secureBoot, keys: 'first-boot' as const } }
  t.equal(planSecureBootSteps(firstBoot, parseBootctlStatus(status('disabled (setup)'))).action, 'await-auto-enroll')
  t.equal(planSecureBootSteps(desk1, parseBootctlStatus(status('enabled (user)'))).action, 'done')
  t.equal(planSecureBootSteps({ ...desk1, secureBoot: { ...desk1.secureBoot, enable: false } }, parseBootctlStatus(status('disabled'))).action, 'skip')
  const refused = planSecureBootSteps(desk1, parseBootctlStatus(status('disabled (disabled)')))
  t.equal(refused.action, 'refuse')
  t.match(refused.message, 'reset the Secure Boot keys to setup mode')
})
