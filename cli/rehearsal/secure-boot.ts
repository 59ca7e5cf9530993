import { shellQuote } from '../deploy/render-plan.js'
import { SECURE_BOOT_PKI } from '../deploy/plan-key-material.js'
import { signSteps, type InstallPlan } from './install-system.js'

// Secure Boot on the rehearsal machine, without a pool: an ESP on a blank disk with systemd-boot
// and the guest's kernel signed by the host's db key, booting the guest's own root file system;
// and an unsigned systemd-boot beside it, a boot entry the firmware must refuse once the keys are
// enrolled. systemd-boot 252 enrolls the keys itself (loader.conf `secure-boot-enroll force`,
// keys in /loader/keys/auto, systemd's loader.conf(5)), as on a NixOS host whose Lanzaboote
// stages them (prepare-sb-auto-enroll.service). What differs from a NixOS host: a plain
// systemd-boot entry instead of Lanzaboote's signed unified image, and the keys are staged with
// efitools, where Lanzaboote uses sbctl (which cannot be installed here).

export const SECURE_BOOT_ENTRY = 'keystone-secure-boot.conf'
export const UNSIGNED_LABEL = 'Keystone unsigned'
export const AUTO_ENROLL_DIR = 'loader/keys/auto'

const ESP_LABEL = 'esp'
const STAGING = '/mnt/esp'

// The db key and certificate in sbctl's layout under the PKI bundle (plan-key-material.ts).
export const dbKey = `${SECURE_BOOT_PKI}/keys/db/db.key`
export const dbCert = `${SECURE_BOOT_PKI}/keys/db/db.pem`

export function planSecureBootEsp(disk: string): InstallPlan {
  const esp = STAGING
  const device = `/dev/disk/by-partlabel/${ESP_LABEL}`
  return {
    steps: [
      {
        command: `sgdisk --zap-all --new=1:0:+200M --typecode=1:EF00 --change-name=1:${ESP_LABEL} ${shellQuote(disk)} && udevadm trigger --subsystem-match=block && udevadm settle`,
      },
      { command: `mkfs.vfat -F 32 -n ESP ${device} && mkdir -p ${esp} && mount ${device} ${esp}` },
      { command: `bootctl --esp-path=${esp} install` },
      {
        command: `mkdir -p ${esp}/keystone && cp /boot/vmlinuz-* ${esp}/keystone/vmlinuz && cp /boot/initrd-dracut.img ${esp}/keystone/initrd.img`,
      },
      ...signSteps(esp, dbKey, dbCert),
      {
        // Debian's systemd-boot as shipped: signed by no one. A boot entry of its own, outside
        // the boot order, which BootNext selects for one boot.
        command: `mkdir -p ${esp}/EFI/unsigned && cp /usr/lib/systemd/boot/efi/systemd-bootx64.efi ${esp}/EFI/unsigned/bootx64.efi && efibootmgr --quiet --create-only --disk "$(readlink -f ${shellQuote(disk)})" --part 1 --label ${shellQuote(UNSIGNED_LABEL)} --loader '\\EFI\\unsigned\\bootx64.efi'`,
      },
      {
        // From the next boot the ESP is /boot, where Lanzaboote has it and enroll looks.
        command: `grep -q ' /boot ' /etc/fstab || echo '${device} /boot vfat umask=0077 0 2' >> /etc/fstab`,
      },
    ],
    files: [
      {
        path: `${esp}/loader/entries/${SECURE_BOOT_ENTRY}`,
        mode: '0644',
        data: [
          'title Keystone rehearsal (Secure Boot)',
          'linux /keystone/vmlinuz',
          'initrd /keystone/initrd.img',
          'options root=LABEL=rehearsal-root rw console=ttyS0,115200 loglevel=4 systemd.show_status=1',
          '',
        ].join('\n'),
      },
      {
        path: `${esp}/loader/loader.conf`,
        mode: '0644',
        data: `default ${SECURE_BOOT_ENTRY}\ntimeout 0\nsecure-boot-enroll force\n`,
      },
    ],
  }
}

// Run after the files: the staging mount goes, /boot is the ESP.
export const MOUNT_ESP_AT_BOOT = `sync && umount ${STAGING} && mount /boot`

// The stand-in for Lanzaboote's prepare-sb-auto-enroll.service: the PK, KEK and db of the PKI
// bundle as signed EFI variable updates in /boot/loader/keys/auto, each signed as sbctl signs
// them (PK and KEK by the PK, db by the KEK), with the bundle's GUID as the owner of each entry.
export function stageAutoEnrollScript(pki = SECURE_BOOT_PKI, esp = '/boot'): string {
  const out = `${esp}/${AUTO_ENROLL_DIR}`
  const keys = (kind: string) =>
    `-k ${shellQuote(`${pki}/keys/${kind}/${kind}.key`)} -c ${shellQuote(`${pki}/keys/${kind}/${kind}.pem`)}`
  return [
    'set -eu',
    `guid=$(tr -d '\\n' < ${shellQuote(`${pki}/GUID`)})`,
    // Certificates only: nothing secret is written outside the bundle.
    'work=$(mktemp -d)',
    `trap 'rm -rf "$work"' EXIT`,
    `mkdir -p ${shellQuote(out)}`,
    ...['PK', 'KEK', 'db'].map(
      (kind) =>
        `cert-to-efi-sig-list -g "$guid" ${shellQuote(`${pki}/keys/${kind}/${kind}.pem`)} "$work/${kind}.esl"`,
    ),
    `sign-efi-sig-list -g "$guid" ${keys('PK')} PK "$work/PK.esl" ${shellQuote(`${out}/PK.auth`)}`,
    `sign-efi-sig-list -g "$guid" ${keys('PK')} KEK "$work/KEK.esl" ${shellQuote(`${out}/KEK.auth`)}`,
    `sign-efi-sig-list -g "$guid" ${keys('KEK')} db "$work/db.esl" ${shellQuote(`${out}/db.auth`)}`,
    '',
  ].join('\n')
}
