import { shellQuote } from '../deploy/render-plan.js'
import type { RemoteShell } from '../deploy/remote-shell.js'
import { UserError } from '../errors.js'
import { bootFileSystems, type BootFacts } from './initrd-overlay.js'

// The rehearsal's stand-in for nixos-anywhere's install phase, on a layout already created and
// mounted under /mnt: the guest's own Debian system copied onto the pool, its kernel and initrd
// with Keystone's units (initrd-overlay.ts) on the ESP behind systemd-boot, which `bootctl
// install` registers in the firmware's boot order — as a NixOS install registers its boot loader.
// Deploy's key material goes on top (the --extra-files tree, unpacked as nixos-anywhere copies
// it), and with Secure Boot keys in it the boot chain is signed with the db key, as Lanzaboote
// signs systemd-boot and its images at install. Then everything is unmounted and the pool
// exported, as nixos-anywhere does before its reboot. What differs from a NixOS host: the system
// on the pool is Debian, its boot entry is a plain systemd-boot entry with two initrds rather
// than Lanzaboote's signed unified image (the initrds are not signed: only the EFI binaries are).

export interface InstallStep {
  command: string
  stdin?: string | Uint8Array
}

export interface InstallPlan {
  steps: InstallStep[]
  // Written (as root, by `cat`) after the steps, over what `bootctl install` wrote.
  files: { path: string; mode: string; data: string | Uint8Array }[]
}

export interface InstallOptions {
  // A tar of deploy's --extra-files tree (make-key-material.ts).
  extraFiles?: Uint8Array
  // The db key and certificate, as paths on the installed system (the extra files place them
  // under /var/lib/sbctl/keys/db/): systemd-boot, its fallback copy and the kernel are signed.
  signWith?: { key: string; cert: string }
}

// What the firmware loads and checks against db: systemd-boot, its removable-media copy, and the
// kernel it starts through the firmware's LoadImage.
export const SIGNED_BINARIES = [
  'EFI/systemd/systemd-bootx64.efi',
  'EFI/BOOT/BOOTX64.EFI',
  'keystone/vmlinuz',
]

const ESP_DIR = 'keystone'
export const BOOT_ENTRY = 'keystone-rehearsal.conf'

// sbsign over each binary the firmware checks, in place, with the db key and certificate at
// `key` and `cert`. Debian's kernel carries Debian's signature; sbsign adds the host's.
export function signSteps(esp: string, key: string, cert: string): InstallStep[] {
  return SIGNED_BINARIES.map((binary) => {
    const file = shellQuote(`${esp}/${binary}`)
    return {
      command: `sbsign --key ${shellQuote(key)} --cert ${shellQuote(cert)} --output ${file}.signed ${file} && mv ${file}.signed ${file}`,
    }
  })
}

export function planInstall(
  facts: BootFacts,
  overlay: Uint8Array,
  options: InstallOptions = {},
  root = '/mnt',
): InstallPlan {
  const fstab = [
    ...bootFileSystems(facts).map((fs) => `${fs.dataset} ${fs.mountpoint} zfs zfsutil 0 0`),
    ...facts.datasets
      .filter((fs) => !bootFileSystems(facts).includes(fs))
      .map((fs) => `${fs.dataset} ${fs.mountpoint} zfs zfsutil,nofail 0 0`),
    `/dev/disk/by-partlabel/disk-disk0-esp /boot vfat umask=0077,nofail 0 2`,
  ].join('\n')
  const esp = `${root}/boot`
  return {
    steps: [
      // The running system, without /boot (that is the ESP now) and what lives on other file systems.
      {
        command: `tar -C / --one-file-system --exclude=./boot --exclude=.${root} -cpf - . | tar -C ${shellQuote(root)} -xpf -`,
      },
      {
        command: `mkdir -p ${['proc', 'sys', 'dev', 'run', 'tmp', 'mnt', 'boot'].map((d) => `${root}/${d}`).join(' ')} && chmod 1777 ${root}/tmp`,
      },
      ...(options.extraFiles === undefined
        ? []
        : [
            {
              command: `tar -C ${shellQuote(root)} --no-same-owner --no-overwrite-dir -xpf -`,
              stdin: options.extraFiles,
            },
          ]),
      { command: `bootctl --esp-path=${shellQuote(esp)} install` },
      {
        // systemd-boot 252 hands both initrds to the kernel back to back, unpadded; the kernel
        // reads an uncompressed cpio only at a 4-byte-aligned offset (init/initramfs.c,
        // unpack_to_rootfs) and skips zero bytes. Padded with zeros, the overlay follows a dracut
        // image of any size; unpadded, a size not a multiple of 4 stopped the kernel at
        // "Initramfs unpacking failed: invalid magic", and the boot went on without the units.
        command: `mkdir -p ${esp}/${ESP_DIR} && cp /boot/vmlinuz-* ${esp}/${ESP_DIR}/vmlinuz && cp /boot/initrd-dracut.img ${esp}/${ESP_DIR}/initrd.img && truncate -s %4 ${esp}/${ESP_DIR}/initrd.img`,
      },
      ...(options.signWith === undefined
        ? []
        : signSteps(esp, `${root}${options.signWith.key}`, `${root}${options.signWith.cert}`)),
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
  await applyInstallPlan(shell, plan)
  await runStep(shell, `sync && umount -R /mnt && zpool export ${shellQuote(pool)}`)
}

// The steps in order, then the files (after `bootctl install`, whose loader.conf they replace).
export async function applyInstallPlan(shell: RemoteShell, plan: InstallPlan): Promise<void> {
  for (const step of plan.steps) await runStep(shell, step.command, step.stdin)
  for (const file of plan.files)
    await runStep(
      shell,
      `mkdir -p "$(dirname ${shellQuote(file.path)})" && cat > ${shellQuote(file.path)} && chmod ${file.mode} ${shellQuote(file.path)}`,
      file.data,
    )
}

async function runStep(
  shell: RemoteShell,
  command: string,
  stdin?: string | Uint8Array,
): Promise<void> {
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
