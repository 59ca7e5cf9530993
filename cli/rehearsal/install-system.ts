import { shellQuote } from '../deploy/render-plan.js'
import type { RemoteShell } from '../deploy/remote-shell.js'
import { UserError } from '../errors.js'
import { bootFileSystems, type BootFacts } from './initrd-overlay.js'

// The rehearsal's stand-in for nixos-anywhere's install phase, on a layout already created and
// mounted under /mnt: the guest's own Debian system copied onto the pool, its kernel and initrd
// with Keystone's units (initrd-overlay.ts) on the ESP behind systemd-boot, which `bootctl
// install` registers in the firmware's boot order — as a NixOS install registers its boot loader.
// Then everything is unmounted and the pool exported, as nixos-anywhere does before its reboot.
// What differs from a NixOS host: the system on the pool is Debian, its boot entry is a plain
// systemd-boot entry with two initrds rather than Lanzaboote's signed unified image.

export interface InstallPlan {
  commands: string[]
  // Written (as root, by `cat`) before the commands that need them.
  files: { path: string; mode: string; data: string | Uint8Array }[]
}

const ESP_DIR = 'keystone'
export const BOOT_ENTRY = 'keystone-rehearsal.conf'

export function planInstall(facts: BootFacts, overlay: Uint8Array, root = '/mnt'): InstallPlan {
  const fstab = [
    ...bootFileSystems(facts).map((fs) => `${fs.dataset} ${fs.mountpoint} zfs zfsutil 0 0`),
    ...facts.datasets
      .filter((fs) => !bootFileSystems(facts).includes(fs))
      .map((fs) => `${fs.dataset} ${fs.mountpoint} zfs zfsutil,nofail 0 0`),
    `/dev/disk/by-partlabel/disk-disk0-esp /boot vfat umask=0077,nofail 0 2`,
  ].join('\n')
  const esp = `${root}/boot`
  return {
    commands: [
      // The running system, without /boot (that is the ESP now) and what lives on other file systems.
      `tar -C / --one-file-system --exclude=./boot --exclude=.${root} -cpf - . | tar -C ${shellQuote(root)} -xpf -`,
      `mkdir -p ${['proc', 'sys', 'dev', 'run', 'tmp', 'mnt', 'boot'].map((d) => `${root}/${d}`).join(' ')} && chmod 1777 ${root}/tmp`,
      `bootctl --esp-path=${shellQuote(esp)} install`,
      `mkdir -p ${esp}/${ESP_DIR} && cp /boot/vmlinuz-* ${esp}/${ESP_DIR}/vmlinuz && cp /boot/initrd-dracut.img ${esp}/${ESP_DIR}/initrd.img`,
    ],
    files: [
      { path: `${root}/etc/fstab`, mode: '0644', data: fstab + '\n' },
      { path: `${esp}/${ESP_DIR}/keystone-units.img`, mode: '0644', data: overlay },
      {
        path: `${esp}/loader/entries/${BOOT_ENTRY}`,
        mode: '0644',
        data: [
          'title Keystone rehearsal (Debian on the Keystone layout)',
          `linux /${ESP_DIR}/vmlinuz`,
          `initrd /${ESP_DIR}/initrd.img`,
          `initrd /${ESP_DIR}/keystone-units.img`,
          // No root=: the initrd's fstab names /sysroot (systemd-fstab-generator).
          'options console=ttyS0,115200 loglevel=4 systemd.show_status=1 systemd.gpt_auto=0 rw',
          '',
        ].join('\n'),
      },
      {
        path: `${esp}/loader/loader.conf`,
        mode: '0644',
        data: `default ${BOOT_ENTRY}\ntimeout 0\n`,
      },
    ],
  }
}

export async function installSystem(
  shell: RemoteShell,
  plan: InstallPlan,
  pool: string,
): Promise<void> {
  const run = async (command: string, stdin?: string | Uint8Array) => {
    const result = await shell.run(command, {
      timeoutMs: 1_800_000,
      ...(stdin !== undefined && { stdin }),
    })
    if (result.code !== 0)
      throw new UserError(
        `installing on ${shell.description} failed at \`${command.slice(0, 80)}\``,
        {
          hint: result.stderr.trim().split('\n').at(-1) ?? `exit ${result.code}`,
        },
      )
  }
  for (const command of plan.commands) await run(command)
  // After `bootctl install`, whose loader.conf this replaces.
  for (const file of plan.files)
    await run(
      `mkdir -p "$(dirname ${shellQuote(file.path)})" && cat > ${shellQuote(file.path)} && chmod ${file.mode} ${shellQuote(file.path)}`,
      file.data,
    )
  await run(`sync && umount -R /mnt && zpool export ${shellQuote(pool)}`)
}
