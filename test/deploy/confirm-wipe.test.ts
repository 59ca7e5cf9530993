import path from 'node:path'
import t from 'tap'
import { deployFixture, hardware } from '../helpers/deploy-fixture.js'
import { needs } from '../helpers/needs.js'
import { needsSshd } from '../helpers/sshd.js'
import { onTerminal } from '../helpers/terminal.js'
import { repoRoot } from '../helpers/temp-fleet.js'

// deploy on a real pseudo-terminal: nothing destructive starts until the host name is typed
// (fake nixos-anywhere).
const mainJs = path.join(repoRoot, 'dist/cli/main.js')
const skip = needsSshd() || needs('script', ['--version'])

t.test('a wrong name cancels the deploy before anything; the right one starts it (fake nixos-anywhere)', { skip }, async (t) => {
  const f = await deployFixture(t, 'desk1')
  const command = [
    `node ${mainJs} deploy desk1 --ssh-key ${f.sshd.clientKeyFile} --probe-root ${hardware('uefi-tpm-nvme-laptop')}`,
    `--identity ${f.key} --boot-timeout 30`,
  ].join(' ')
  const env = { ...f.env, XDG_CONFIG_HOME: f.config }
  const wrong = await onTerminal(command, [{ after: 'and install:', type: 'desk2' }], { cwd: f.fleet, env })
  t.not(wrong.code, 0)
  t.match(wrong.screen, 'Type the host name (desk1) to wipe /dev/disk/by-id/nvme-WD_BLACK_SN850X_2000GB_23123K800123 and install:')
  t.match(wrong.screen, 'keystone: deploy cancelled: you typed `desk2`, not `desk1`')
  t.same(await f.recorded(), [], 'nixos-anywhere never ran')

  const right = await onTerminal(command, [{ after: 'and install:', type: 'desk1' }], { cwd: f.fleet, env })
  t.equal(right.code, 0, right.screen)
  t.same(await f.phasesRun(), ['kexec', 'disko', 'install', 'reboot'])
})
