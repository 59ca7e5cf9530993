import { execFileSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { runtimeDir } from '../../cli/config.js'
import { makePrivateDir, removePrivateDir } from '../../cli/vault/private-file.js'
import { placeSecureBootKeys } from '../../cli/deploy/make-key-material.js'
import { parseBootctlStatus, planSecureBootSteps } from '../../cli/deploy/secure-boot-state.js'
import { loadFleet } from '../../cli/host/load-fleet.js'
import { applyInstallPlan } from '../../cli/rehearsal/install-system.js'
import {
  MOUNT_ESP_AT_BOOT,
  planSecureBootEsp,
  stageAutoEnrollScript,
  UNSIGNED_LABEL,
} from '../../cli/rehearsal/secure-boot.js'
import { recipientOf } from '../../cli/vault/age.js'
import { needs } from '../helpers/needs.js'
import {
  bootRehearsal,
  needsRehearsal,
  rehearsalFleet,
  rehearsalVault,
} from '../helpers/rehearsal.js'

// Item 7 of the rehearsal: Secure Boot, on OVMF's Secure Boot firmware in setup mode.
// Shared with a NixOS host: the keys (deploy's own key maker, kept in the vault, placed in
// sbctl's layout under /var/lib/sbctl), systemd-boot's enrollment of staged keys at boot (the
// path of Lanzaboote's autoEnrollKeys), `keystone enroll` awaiting it over SSH and reading
// `bootctl status`, and the firmware's own signature checks. Not shared: the keys are staged
// with efitools where Lanzaboote runs sbctl (its Go module is not served here and Debian 12 has
// no package), the boot entry is systemd-boot with Debian's kernel signed by sbsign rather than
// Lanzaboote's unified image, and the system booted is the guest's own root file system: under
// Secure Boot Debian's kernel locks itself down and refuses the unsigned zfs-dkms module, so the
// encrypted pool of the other rehearsal tests cannot be the root here.
t.setTimeout(1_800_000)
const skip = needsRehearsal() || needs('age-keygen', ['--version']) || needs('openssl', ['version'])

// Boot entries as `efibootmgr` lists them: `Boot0004* Keystone unsigned\tHD(…)`.
function bootEntries(listing: string) {
  const current = /^BootCurrent:\s*([0-9A-F]{4})/m.exec(listing)?.[1]
  const entries = [...listing.matchAll(/^Boot([0-9A-F]{4})\*?\s+([^\t\n]+)/gm)].map((m) => ({
    number: m[1]!,
    label: m[2]!.trim(),
  }))
  return { current, entries }
}

t.test(
  "Secure Boot: Keystone's keys enrolled by systemd-boot from setup mode, enroll sees enabled (user), the signed entry boots and an unsigned one is refused",
  { skip, timeout: 1_700_000 },
  async (t) => {
    const machine = await bootRehearsal(t, { disks: 1, diskSize: '1G' })
    const disk = machine.disks[0]!.path
    const fleet = await rehearsalFleet(machine, [disk], { secureBoot: 'first-boot', tpm: false })
    const vault = await rehearsalVault(t, fleet, machine.work)
    const [loaded] = await loadFleet(fleet)
    const host = loaded!.host

    // The host's keys, made and kept as deploy makes them, and placed in its extra-files tree.
    // Private keys: in memory, never in /tmp.
    const scratch = await makePrivateDir(runtimeDir(), 'sb-')
    t.teardown(() => removePrivateDir(scratch))
    const secret = (await readFile(vault.key, 'utf8'))
      .split('\n')
      .find((line) => line.startsWith('AGE-SECRET-KEY-'))!
    const tree = path.join(scratch, 'extra-files')
    await placeSecureBootKeys(
      {
        fleetRoot: fleet,
        host: 'rehearsal',
        identity: { secret, recipient: await recipientOf(secret) },
      },
      tree,
      path.join(scratch, 'secure-boot'),
    )
    const bundle = JSON.parse(await vault.get('rehearsal/secure-boot-keys')) as Record<
      string,
      string
    >
    t.same(
      Object.keys(bundle).sort(),
      [
        'GUID',
        ...['KEK', 'PK', 'db'].flatMap((k) => [`keys/${k}/${k}.key`, `keys/${k}/${k}.pem`]),
      ].sort(),
      'the vault keeps the PK, KEK and db with their GUID',
    )
    await machine.sh(
      'tar -C / --no-same-owner --no-overwrite-dir -xpf -',
      execFileSync('tar', ['-C', tree, '-cf', '-', '.']),
    )

    const before = parseBootctlStatus(await machine.sh('bootctl status 2>/dev/null || true'))
    t.equal(before.line, 'disabled (setup)', 'the firmware starts in setup mode')

    const session = await machine.ssh()
    try {
      await applyInstallPlan(session, planSecureBootEsp(disk))
    } finally {
      await session.close()
    }
    await machine.sh(MOUNT_ESP_AT_BOOT)
    const unsigned = bootEntries(await machine.sh('efibootmgr')).entries.find(
      (entry) => entry.label === UNSIGNED_LABEL,
    )
    t.ok(unsigned, 'the unsigned entry is registered in the firmware')
    const bootUnsignedNext = () => machine.sh(`efibootmgr --quiet --bootnext ${unsigned!.number}`)

    // In setup mode the firmware checks nothing: the unsigned systemd-boot boots. It proves the
    // entry itself is sound, so that its refusal below is the signature's doing.
    await bootUnsignedNext()
    await machine.powerOff()
    await machine.boot('disks')
    t.equal(
      bootEntries(await machine.sh('efibootmgr')).current,
      unsigned!.number,
      'in setup mode the unsigned entry booted',
    )

    // What prepare-sb-auto-enroll.service does on a NixOS host's first boot, then enroll.
    await machine.sh('bash -s', stageAutoEnrollScript())
    const enroll = await vault.run(['enroll', 'rehearsal', '--ssh-key', machine.keyFile])
    t.equal(enroll.code, 0, enroll.stderr)
    t.match(
      enroll.stdout.toString(),
      'systemd-boot enrolls the keys Lanzaboote staged at the next boot',
    )
    t.match(enroll.stdout.toString(), '✓ Secure Boot: enabled (user)')
    t.match(
      machine.console(),
      'Enrolling secure boot keys from directory: \\loader\\keys\\auto',
      'systemd-boot enrolled the staged keys at that reboot',
    )

    const status = parseBootctlStatus(await machine.sh('bootctl status 2>/dev/null || true'))
    t.same(
      status,
      { secureBoot: 'enabled', mode: 'user', line: 'enabled (user)' },
      'bootctl status',
    )
    t.equal(planSecureBootSteps(host, status).action, 'done', 'a second enroll has nothing to do')
    const variable = async (name: string) =>
      (
        await machine.sh(
          `od -An -tu1 /sys/firmware/efi/efivars/${name}-8be4df61-93ca-11d2-aa0d-00e098032b8c`,
        )
      )
        .trim()
        .split(/\s+/)
        .at(-1)
    t.equal(await variable('SecureBoot'), '1', 'the SecureBoot variable says enabled')
    t.equal(await variable('SetupMode'), '0', 'and the firmware left setup mode')
    t.match(
      await machine.sh('efi-readvar -v db'),
      /CN=rehearsal db/,
      "db holds the host's db certificate",
    )
    t.match(await machine.sh('efi-readvar -v PK'), /CN=rehearsal PK/, "PK is the host's")
    t.notMatch(
      await machine.sh('cat /sys/kernel/security/lockdown'),
      /\[none\]/,
      'the kernel saw Secure Boot and locked itself down',
    )
    t.equal(
      (await machine.sh('cat /proc/cmdline')).includes('root=LABEL=rehearsal-root'),
      true,
      'the signed entry booted the system',
    )

    // The unsigned entry once more, now refused: the firmware goes on to the signed systemd-boot.
    await bootUnsignedNext()
    await machine.powerOff()
    const { console } = await machine.boot('disks')
    const after = bootEntries(await machine.sh('efibootmgr'))
    t.not(after.current, unsigned!.number, 'the unsigned entry did not boot')
    t.equal(
      after.entries.find((entry) => entry.number === after.current)?.label,
      'Linux Boot Manager',
      'the signed systemd-boot did',
    )
    t.match(
      console,
      new RegExp(
        `BdsDxe: failed to load Boot${unsigned!.number} "${UNSIGNED_LABEL}"[^\\n]*: Access Denied`,
      ),
      'the firmware refused it for its signature',
    )
  },
)
