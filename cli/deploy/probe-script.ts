// The preflight probe: one read-only POSIX sh script, sent on stdin (`sh -s -- <root>`) so that it
// needs nothing on the target beyond a shell and coreutils. It reads the machine through a root
// prefix — empty on a real machine, a recorded tree of real hardware in tests
// (test/fixtures/hardware/) — and prints `key=value` lines, then one `disk=` line per whole disk
// (tab-separated: by-id name, kernel name, bytes, model, serial). probe.ts parses the output.
//
// The script has no `${`: it is a template literal, and a `${` would be interpolated.
export const PROBE_SCRIPT = String.raw`# Keystone preflight probe: reads, never writes. $1 is the root prefix, empty on a real machine.
R=
if [ $# -gt 0 ]; then R=$1; fi

# One value per line: tabs, carriage returns and newlines would break the output format.
clean() { tr -d '\t\r\n' | sed 's/^ *//; s/ *$//'; }
value() { if [ -r "$1" ]; then clean <"$1"; fi; }
meminfo() { sed -n "s/^$1: *\([0-9]*\) kB\$/\1/p" "$R/proc/meminfo" 2>/dev/null | head -n 1; }
os_release() { sed -n "s/^$1=//p" "$R/etc/os-release" 2>/dev/null | head -n 1 | tr -d "\"'" | clean; }
# efivarfs files start with 4 attribute bytes, then the variable (Linux Documentation/filesystems/efivarfs.rst).
# SecureBoot and SetupMode are in EFI_GLOBAL_VARIABLE's namespace (UEFI 2.10 §3.3).
efivar() {
  f="$R/sys/firmware/efi/efivars/$1-8be4df61-93ca-11d2-aa0d-00e098032b8c"
  if [ -r "$f" ]; then od -An -tu1 -j4 -N1 "$f" | tr -d ' \n'; fi
}

# Linux >= 6.1 has kernel.arch, which the prefix can stand in for; uname -m on older kernels.
if [ -r "$R/proc/sys/kernel/arch" ]; then arch=$(value "$R/proc/sys/kernel/arch"); else arch=$(uname -m | clean); fi
echo "arch=$arch"
echo "mem_total_kib=$(meminfo MemTotal)"
echo "mem_available_kib=$(meminfo MemAvailable)"

if [ -d "$R/sys/firmware/efi" ]; then echo firmware=uefi; else echo firmware=bios; fi
case $(efivar SecureBoot) in 1) echo secure_boot=enabled ;; 0) echo secure_boot=disabled ;; *) echo secure_boot=unknown ;; esac
case $(efivar SetupMode) in 1) echo setup_mode=yes ;; 0) echo setup_mode=no ;; *) echo setup_mode=unknown ;; esac

# Kernels without tpm_version_major: only a TPM 1.2 has caps (drivers/char/tpm/tpm-sysfs.c).
tpm=$R/sys/class/tpm/tpm0
if [ -r "$tpm/tpm_version_major" ]; then echo "tpm=$(value "$tpm/tpm_version_major")"
elif [ -e "$tpm/caps" ] || [ -e "$tpm/device/caps" ]; then echo tpm=1
elif [ -d "$tpm" ]; then echo tpm=2
else echo tpm=none
fi

echo "os_id=$(os_release ID)"
echo "os_variant_id=$(os_release VARIANT_ID)"
# A NixOS installer, recognised as nixos-anywhere does it (src/get-facts.sh: isNixos, isInstaller).
if grep -Eq 'ID(_LIKE)?="?nixos"?' "$R/etc/os-release" 2>/dev/null && grep -Eq 'VARIANT_ID="?installer"?' "$R/etc/os-release"; then
  echo installer=yes
else
  echo installer=no
fi
# A Keystone host names itself here (modules/roles/baseline.nix); empty on any other system.
echo "keystone_host=$(value "$R/etc/keystone/host")"

# The login itself, never under the prefix. stdin is the rest of this script: sudo must not read it.
uid=$(id -u)
echo "uid=$uid"
if [ "$uid" != 0 ] && sudo -n true </dev/null >/dev/null 2>&1; then echo sudo=yes; else echo sudo=no; fi

for link in "$R"/dev/disk/by-id/*; do
  [ -L "$link" ] || continue
  id=$(basename "$link")
  case $id in *-part[0-9]*) continue ;; esac
  kname=$(basename "$(readlink "$link")")
  sys=$R/sys/class/block/$kname
  # Partitions have a partition file; device-mapper, md, loop and zram devices have no device link.
  if [ -e "$sys/partition" ] || [ ! -e "$sys/device" ]; then continue; fi
  # size counts 512-byte sectors whatever the disk's block size (Documentation/ABI/stable/sysfs-block).
  sectors=$(value "$sys/size")
  case $sectors in '' | *[!0-9]*) continue ;; esac
  model=$(value "$sys/device/model")
  # NVMe controllers have a serial file, virtio disks their own; a SATA disk's serial is only in
  # udev's database, where ata_id put it.
  serial=$(value "$sys/device/serial")
  if [ -z "$serial" ]; then serial=$(value "$sys/serial"); fi
  if [ -z "$serial" ]; then
    serial=$(sed -n 's/^E:ID_SERIAL_SHORT=//p' "$R/run/udev/data/b$(value "$sys/dev")" 2>/dev/null | head -n 1 | clean)
  fi
  printf 'disk=%s\t%s\t%s\t%s\t%s\n' "$id" "$kname" "$((sectors * 512))" "$model" "$serial"
done
`
