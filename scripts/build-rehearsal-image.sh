#!/usr/bin/env bash
# Builds the rehearsal machine's guest once per machine and keeps it in the user's cache: a
# Debian 12 system with its kernel, ZFS 2.1.11 (zfs-dkms from Debian's contrib, compiled here for
# that kernel), cryptsetup, systemd 252 with systemd-cryptenroll, tpm2-tools, efitools and
# sbsigntool (Secure Boot variables and signatures) and sshd,
# and a dracut initrd that runs systemd — the same init a NixOS initrd runs. Everything comes from
# Debian's package archive and the Go module proxy; nothing is downloaded at test time.
#
#   scripts/build-rehearsal-image.sh [--print-dir]
#
# Output, in ~/.cache/keystone/rehearsal/<key>/ (the key is this script's own hash, so a change
# here builds a new image beside the old one):
#   vmlinuz, initrd.img   the kernel and its dracut initrd (systemd, zfs, crypt, tpm2-tss)
#   root.img              an ext4 file system image of the guest, booted as a virtio disk
#   manifest.json         kernel and ZFS versions, the guest's SSH host key
# Needs root (debootstrap, chroot), debootstrap and e2fsprogs.
set -euo pipefail
cd "$(dirname "$0")/.."

MIRROR=${KEYSTONE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm

key=$(sha256sum "$0" | cut -c1-16)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/keystone
out=$cache/rehearsal/$key
if [[ ${1:-} == --print-dir ]]; then
  echo "$out"
  exit 0
fi
if [[ -f $out/manifest.json ]]; then
  echo "rehearsal image: $out (cached)"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "build-rehearsal-image: needs root (debootstrap and chroot); run it with sudo" >&2
  exit 1
fi
for tool in debootstrap mkfs.ext4; do
  command -v "$tool" >/dev/null || { echo "build-rehearsal-image: $tool is not installed (apt install debootstrap e2fsprogs)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/var/tmp}/keystone-rehearsal-build.XXXXXX")
root=$work/root
cleanup() {
  for mount in "$root/dev/pts" "$root/dev" "$root/proc" "$root/sys"; do
    mountpoint -q "$mount" 2>/dev/null && umount -l "$mount"
  done
  rm -rf "$work"
}
trap cleanup EXIT
began=$SECONDS
step() { echo "rehearsal image: [$((SECONDS - began))s] $*"; }

step "debootstrap $SUITE"
debootstrap --variant=minbase --components=main,contrib "$SUITE" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
  { tail -20 "$work/debootstrap.log" >&2; exit 1; }

mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
in_root() { chroot "$root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }

cat >"$root/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main contrib
deb $MIRROR $SUITE-updates main contrib
deb http://deb.debian.org/debian-security $SUITE-security main contrib
EOF
# No daemon may start inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"

step "installing the kernel, systemd, cryptsetup, tpm2-tools, sshd"
in_root apt-get update -qq
in_root apt-get install -y -qq --no-install-recommends \
  linux-image-amd64 systemd systemd-sysv udev dbus kmod \
  cryptsetup-bin cryptsetup tpm2-tools libtss2-tcti-device0 libtss2-rc0 \
  openssh-server dracut-core dracut-config-generic \
  e2fsprogs dosfstools gdisk util-linux mount iproute2 procps less \
  systemd-boot systemd-boot-efi efibootmgr efitools sbsigntool binutils >"$work/apt.log" 2>&1 ||
  { tail -20 "$work/apt.log" >&2; exit 1; }
kver=$(find "$root/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -1)

step "building ZFS for $kver (zfs-dkms from contrib)"
in_root apt-get install -y -qq --no-install-recommends "linux-headers-$kver" dkms build-essential >>"$work/apt.log" 2>&1 ||
  { tail -20 "$work/apt.log" >&2; exit 1; }
# The package's own postinst builds for the running kernel, which is not the guest's: build
# for the guest's kernel by name.
in_root apt-get install -y -qq --no-install-recommends zfs-dkms zfsutils-linux >>"$work/apt.log" 2>&1 ||
  { tail -20 "$work/apt.log" >&2; exit 1; }
version_of() { in_root dpkg-query -W -f="\${Version}" "$1"; }
zfs_version=$(version_of zfs-dkms)
if [[ ! -e $root/lib/modules/$kver/updates/dkms/zfs.ko ]]; then
  in_root dkms install "zfs/${zfs_version%%-*}" -k "$kver" >"$work/dkms.log" 2>&1 ||
    { tail -30 "$work/dkms.log" >&2; exit 1; }
fi
# The compiler and headers are only for the build: keep the modules, drop the rest.
mkdir -p "$root/lib/modules/$kver/extra"
cp "$root/lib/modules/$kver/updates/dkms/"*.ko "$root/lib/modules/$kver/extra/"
in_root dpkg --purge --force-depends zfs-dkms >>"$work/apt.log" 2>&1
in_root apt-get purge -y -qq --auto-remove dkms build-essential "linux-headers-$kver" gcc-12 cpp-12 make >>"$work/apt.log" 2>&1 || true
in_root depmod "$kver"

step "configuring the guest"
echo rehearsal >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 rehearsal\n' >"$root/etc/hosts"
printf 'LABEL=rehearsal-root / ext4 defaults 0 1\n' >"$root/etc/fstab"
ln -sf /usr/share/zoneinfo/UTC "$root/etc/localtime"
passwd_root='*'
in_root usermod -p "$passwd_root" root
# QEMU's user network: the guest is always 10.0.2.15, no DHCP wait.
mkdir -p "$root/etc/systemd/network"
cat >"$root/etc/systemd/network/10-user.network" <<'EOF'
[Match]
Name=en* eth*

[Network]
Address=10.0.2.15/24
Gateway=10.0.2.2
DNS=10.0.2.3
EOF
in_root systemctl enable systemd-networkd.service >/dev/null 2>&1
in_root systemctl enable serial-getty@ttyS0.service >/dev/null 2>&1 || true
# sshd: one ed25519 host key made now (its fingerprint goes into the manifest), keys only.
rm -f "$root"/etc/ssh/ssh_host_*
ssh-keygen -q -t ed25519 -N '' -C rehearsal -f "$root/etc/ssh/ssh_host_ed25519_key"
cat >"$root/etc/ssh/sshd_config.d/rehearsal.conf" <<'EOF'
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
EOF
# The admin's public key arrives through QEMU's fw_cfg (-fw_cfg name=opt/keystone/authorized_keys),
# so that one image serves every admin and no key is baked in.
cat >"$root/usr/local/sbin/rehearsal-authorized-keys" <<'EOF'
#!/bin/sh
set -eu
modprobe qemu_fw_cfg 2>/dev/null || true
src=/sys/firmware/qemu_fw_cfg/by_name/opt/keystone/authorized_keys/raw
[ -r "$src" ] || exit 0
install -d -m 0700 /root/.ssh
install -m 0600 "$src" /root/.ssh/authorized_keys
EOF
chmod 0755 "$root/usr/local/sbin/rehearsal-authorized-keys"
cat >"$root/etc/systemd/system/rehearsal-authorized-keys.service" <<'EOF'
[Unit]
Description=The admin's SSH key from QEMU's fw_cfg
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/rehearsal-authorized-keys

[Install]
WantedBy=multi-user.target
EOF
in_root systemctl enable rehearsal-authorized-keys.service ssh.service >/dev/null 2>&1
# ZFS's own import and mount units would race Keystone's: the tests import pools themselves.
# zfs-load-module waits for udev to settle (24 s under emulation); zpool loads the module itself.
for unit in zfs-load-module.service zfs-import-cache.service zfs-import-scan.service zfs-mount.service zfs-share.service zfs-zed.service zfs-volume-wait.service; do
  in_root systemctl disable "$unit" >/dev/null 2>&1 || true
  in_root systemctl mask "$unit" >/dev/null 2>&1 || true
done
# Housekeeping a throwaway machine never needs, which would share its one emulated CPU with the
# boot: e2scrub_reap alone took 23 s of an 82 s boot under TCG (systemd-analyze blame).
for unit in e2scrub_reap.service e2scrub_all.timer apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer fstrim.timer; do
  in_root systemctl disable "$unit" >/dev/null 2>&1 || true
  in_root systemctl mask "$unit" >/dev/null 2>&1 || true
done
rm -f "$root/usr/sbin/policy-rc.d"

step "building the dracut initrd (systemd, zfs, crypt, tpm2-tss)"
# dracut's generic initrd for virtio machines, with systemd as init and the tools the credstore
# boot needs; Keystone's own units are added per test as a second cpio archive.
in_root dracut --force --no-hostonly --kver "$kver" \
  --add "systemd systemd-initrd crypt tpm2-tss dm rootfs-block" \
  --omit "plymouth network network-legacy ifcfg nfs iscsi multipath lvm mdraid btrfs resume" \
  --add-drivers "virtio_blk virtio_pci virtio_scsi tpm_tis tpm_crb dm_crypt zfs ext4 vfat nls_cp437 nls_iso8859_1 efivarfs" \
  --install "zpool zfs mount.zfs cryptsetup /usr/lib/systemd/systemd-cryptsetup mountpoint install /lib/udev/zvol_id /lib/udev/rules.d/60-zvol.rules" \
  /boot/initrd-dracut.img >"$work/dracut.log" 2>&1 || { tail -30 "$work/dracut.log" >&2; exit 1; }

step "writing the disk image"
umount -l "$root/dev/pts" "$root/dev" "$root/proc" "$root/sys"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
# Drivers for hardware a virtio machine does not have: a smaller root installs faster onto the
# pool. The initrd above was made before, from the full set.
modules=$root/lib/modules/$kver/kernel
rm -rf "$modules/sound" "$modules/net/wireless" "$modules/net/mac80211" "$modules/net/bluetooth" \
  "$modules"/drivers/{gpu,media,net/wireless,net/ethernet,infiniband,staging,usb,hid,input,iio,bluetooth,isdn,mmc,mtd,thunderbolt,video,scsi,comedi,hwmon,leds,platform} \
  "$modules"/fs/{btrfs,xfs,ocfs2,nfs,nfsd,cifs,smb,ceph,gfs2,f2fs,jfs,reiserfs,nilfs2,ubifs,orangefs}
in_root depmod "$kver"
rm -f "$root"/boot/initrd.img-*
mkdir -p "$work/out"
cp "$root/boot/vmlinuz-$kver" "$work/out/vmlinuz"
# The initrd stays in /boot too: the rehearsal installs it onto the new ESP.
cp "$root/boot/initrd-dracut.img" "$work/out/initrd.img"
mkfs.ext4 -q -L rehearsal-root -d "$root" "$work/out/root.img" 3G
host_key=$(cut -d' ' -f1,2 "$root/etc/ssh/ssh_host_ed25519_key.pub")
cat >"$work/out/manifest.json" <<EOF
{
  "debian": "$SUITE",
  "kernel": "$kver",
  "zfs": "$zfs_version",
  "systemd": "$(version_of systemd)",
  "sshHostKey": "$host_key",
  "builtAt": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
EOF
mkdir -p "$(dirname "$out")"
rm -rf "$out.partial"
mv "$work/out" "$out.partial"
mv "$out.partial" "$out"
step "done: $out"
