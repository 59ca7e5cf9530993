// The preflight probe: one read-only POSIX sh script, sent on stdin (`sh -s -- <root>`) so that it
// needs nothing installed on the target. It reads the machine through a root prefix — empty on a
// real machine; a recorded tree of real hardware in tests — and prints `key=value` lines and one
// `disk=` line per whole disk (tab-separated: by-id name, kernel name, bytes, model, serial).
// Sources: the efivars layout (4 attribute bytes, then the value; Linux
// Documentation/filesystems/efivarfs.rst), /sys/class/tpm/tpm0/tpm_version_major (Linux ≥ 5.5),
// /proc/sys/kernel/arch (Linux ≥ 6.1), udev's E:ID_SERIAL_SHORT in /run/udev/data/b<maj>:<min>
// (where a SATA disk's serial is), nixos-anywhere src/get-facts.sh for the installer test.
export const PROBE_SCRIPT = String.raw`set -u
R=${'$'}{1:-}
clean() { tr -d '\t\r\n' | sed 's/^ *//; s/ *$//'; }
first() { if [ -r "$1" ]; then clean < "$1"; fi; }
efivar() {
  f="$R/sys/firmware/efi/efivars/$1-8be4df61-93ca-11d2-aa0d-e0a9e52c4ca4"
  if [ -r "$f" ]; then od -An -tu1 -j4 -N1 "$f" | tr -d ' \n'; fi
}
if [ -r "$R/proc/sys/kernel/arch" ]; then echo "arch=$(first "$R/proc/sys/kernel/arch")"; else echo "arch=$(uname -m)"; fi
echo "mem_total_kib=$(sed -n 's/^MemTotal: *\([0-9]*\) kB$/\1/p' "$R/proc/meminfo")"
echo "mem_available_kib=$(sed -n 's/^MemAvailable: *\([0-9]*\) kB$/\1/p' "$R/proc/meminfo")"
if [ -d "$R/sys/firmware/efi" ]; then echo firmware=uefi; else echo firmware=bios; fi
case "$(efivar SecureBoot)" in 1) echo secure_boot=enabled ;; 0) echo secure_boot=disabled ;; *) echo secure_boot=unknown ;; esac
case "$(efivar SetupMode)" in 1) echo setup_mode=yes ;; 0) echo setup_mode=no ;; *) echo setup_mode=unknown ;; esac
tpm=$(first "$R/sys/class/tpm/tpm0/tpm_version_major")
echo "tpm=${'$'}{tpm:-none}"
os_id=$(sed -n 's/^ID="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$R/etc/os-release" 2>/dev/null)
variant=$(sed -n 's/^VARIANT_ID="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$R/etc/os-release" 2>/dev/null)
echo "os_id=$os_id"
echo "os_variant_id=$variant"
if [ "$os_id" = nixos ] && [ "$variant" = installer ]; then echo installer=yes; else echo installer=no; fi
echo "keystone_host=$(first "$R/etc/keystone/host")"
uid=$(id -u)
echo "uid=$uid"
if [ "$uid" != 0 ] && sudo -n true 2>/dev/null; then echo sudo=yes; else echo sudo=no; fi
for link in "$R"/dev/disk/by-id/*; do
  [ -L "$link" ] || continue
  id=${'$'}{link##*/}
  case "$id" in *-part[0-9]*) continue ;; esac
  target=$(readlink "$link")
  kname=${'$'}{target##*/}
  sys="$R/sys/class/block/$kname"
  [ -r "$sys/size" ] || continue
  [ -e "$sys/partition" ] && continue
  bytes=$(($(first "$sys/size") * 512))
  model=$(first "$sys/device/model")
  serial=$(first "$sys/device/serial")
  if [ -z "$serial" ]; then
    dev=$(first "$sys/dev")
    serial=$(sed -n 's/^E:ID_SERIAL_SHORT=//p' "$R/run/udev/data/b$dev" 2>/dev/null | clean)
  fi
  printf 'disk=%s\t%s\t%s\t%s\t%s\n' "$id" "$kname" "$bytes" "$model" "$serial"
done
`
