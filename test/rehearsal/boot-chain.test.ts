import t from 'tap'
import {
  bootFactsOf,
  crypttabOptions,
  evalBootUnits,
  initrdOverlay,
} from '../../cli/rehearsal/initrd-overlay.js'
import { installSystem, planInstall } from '../../cli/rehearsal/install-system.js'
import { needs } from '../helpers/needs.js'
import { applyLayout, bootRehearsal, needsRehearsal, rehearsalFleet } from '../helpers/rehearsal.js'

// Item 3 of the rehearsal: Keystone's credstore units booted by real systemd in a real initrd.
// Shared with a NixOS host: the unit definitions (modules/disk/credstore-boot-units.nix, the file
// modules/disk hands to boot.initrd.systemd), the crypttab options of modules/tpm, the generated
// layout and the /sysroot file systems. Not shared: the initrd is Debian's dracut one with
// systemd 252 (NixOS's has its own systemd), the units are rendered into files by
// cli/rehearsal/render-units.ts rather than by nixpkgs, and the system on the pool is Debian.
// An emulated machine boots in about a minute: more than tap's 300 s per file for the whole test.
t.setTimeout(1_800_000)
const skip = needsRehearsal() || needs('nix-instantiate')

const UNITS = [
  'keystone-import-pool.service',
  'systemd-cryptsetup@credstore.service',
  'etc-credstore.mount',
  'keystone-load-key.service',
  'sysroot.mount',
]

t.test(
  'the credstore units under real systemd: pool imported, credstore opened, key loaded, root mounted, credstore closed before switch-root',
  { skip, timeout: 1_500_000 },
  async (t) => {
    const machine = await bootRehearsal(t, { disks: 1, diskSize: '8G' })
    const fleet = await rehearsalFleet(machine, [machine.disks[0]!.path])
    const { disko, passphrase } = await applyLayout(t, machine, fleet)

    const facts = bootFactsOf(disko, true)
    const units = await evalBootUnits(facts)
    const overlay = initrdOverlay(units, facts, await crypttabOptions(facts))
    const session = await machine.ssh()
    try {
      await installSystem(session, planInstall(facts, overlay), facts.pool)
    } finally {
      await session.close()
    }
    await machine.powerOff()

    // The firmware boots the disk; the credstore asks for its passphrase on the console.
    const { console } = await machine.boot('disks', passphrase)
    t.match(
      console,
      /Please enter passphrase for disk .*credstore/,
      'the first boot asked on the console',
    )

    t.equal(
      (await machine.sh('findmnt -n -o SOURCE,FSTYPE /')).trim(),
      'rpool/crypt/system zfs',
      '/ is the encrypted dataset',
    )
    t.equal((await machine.sh('zfs get -H -o value keystatus rpool/crypt')).trim(), 'available')
    t.equal(
      (
        await machine.sh('cryptsetup status credstore >/dev/null 2>&1 && echo open || echo closed')
      ).trim(),
      'closed',
      'the credstore was closed before switch-root',
    )
    t.equal(
      (await machine.sh('findmnt /etc/credstore >/dev/null && echo mounted || echo none')).trim(),
      'none',
    )

    // The order, from the initrd's journal.
    const journal = await machine.sh(
      `journalctl -b -o short-monotonic --no-pager ${UNITS.map((u) => `-u ${u}`).join(' ')}`,
    )
    const at = (pattern: RegExp) => journal.split('\n').findIndex((line) => pattern.test(line))
    const order = [
      at(/Finished keystone-import-pool\.service/),
      at(/Finished systemd-cryptsetup@credstore\.service/),
      at(/Mounted etc-credstore\.mount/),
      at(/Finished keystone-load-key\.service/),
      at(/Mounted sysroot\.mount/),
      at(/Unmounted etc-credstore\.mount/),
      at(/Stopped systemd-cryptsetup@credstore\.service/),
    ]
    t.ok(
      order.every((index, i) => index >= 0 && (i === 0 || index > order[i - 1]!)),
      `in order in the journal: ${order.join(', ')}\n${journal}`,
    )
  },
)
