# The credstore boot's initrd units, as data: modules/disk hands them to NixOS's
# boot.initrd.systemd.{services,mounts,targets}, and the rehearsal machine renders the same
# definitions into unit files for its Debian initrd (cli/rehearsal/render-units.ts), so the units
# it boots are the ones a host boots. Builtins only: no nixpkgs, no pkgs.
#
# The layout follows the credstore pattern in ../shared/reference/PROVISIONING-FACTS.md §2.1:
# the pool is imported bare, the credstore (a LUKS zvol of the same pool) is opened by
# systemd-cryptsetup and mounted on /etc/credstore, the key of <pool>/crypt is loaded from it
# before /sysroot is mounted, and the credstore is closed again before switch-root.
{
  pool,
  # Absolute paths of the ZFS tools: the zfs package's on NixOS, /usr/sbin's on Debian.
  zpool,
  zfs,
  # Directory the import scans for pool members (`zpool import -d`).
  devNodes,
  # The .device units of the pool members, waited for (Wants=, so a degraded mirror imports).
  memberUnits,
  # Every ZFS file system the initrd mounts: each must be encrypted by <pool>/crypt.
  bootDatasets,
}:
let
  cryptRoot = "${pool}/crypt";
  keyCredential = "zfs-sysroot.mount";
  # POSIX single quotes, as nixpkgs' lib.escapeShellArg quotes a word that needs it.
  shellArg = word: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] word + "'";

  importPool = ''
    set -euo pipefail
    # A failed check exports the pool again, so that nothing half-imported stays behind.
    trap '${zpool} export ${pool} || true' ERR
    if ! ${zpool} list ${pool} >/dev/null 2>&1; then
      ${zpool} import -N -d ${shellArg devNodes} ${pool}
    fi
    for dataset in ${builtins.concatStringsSep " " (map shellArg bootDatasets)}; do
      root="$(${zfs} get -H -o value encryptionroot "$dataset")"
      if [ "$root" != ${shellArg cryptRoot} ]; then
        echo "keystone: refusing to boot: $dataset is encrypted by '$root', not ${cryptRoot}" >&2
        exit 1
      fi
    done
  '';

  loadKey = ''
    set -euo pipefail
    if [ "$(${zfs} get -H -o value keystatus ${cryptRoot})" = unavailable ]; then
      ${zfs} load-key -L "file://$CREDENTIALS_DIRECTORY/${keyCredential}" ${cryptRoot}
    fi
  '';
in
{
  inherit keyCredential;

  services = {
    keystone-import-pool = {
      description = "Import the ZFS pool ${pool} without mounting it";
      after = [ "modprobe@zfs.service" ] ++ memberUnits;
      requires = [ "modprobe@zfs.service" ];
      wants = [ "cryptsetup-pre.target" ] ++ memberUnits;
      # The credstore is a zvol of this pool: it exists only after the import.
      before = [ "cryptsetup-pre.target" ];
      unitConfig.DefaultDependencies = false;
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
      };
      script = importPool;
    };

    keystone-load-key = {
      description = "Load the key of ${cryptRoot} from the credstore";
      # Wanted, not required, by sysroot.mount: initrd-switch-root.target conflicts with
      # etc-credstore.mount, whose stop reaches this unit through RequiresMountsFor=; with
      # requiredBy the stop went on to sysroot.mount, and the rehearsal machine's systemd
      # unmounted /sysroot before switching root ("Failed to start initrd-switch-root.service").
      # A key that does not load still stops the boot: sysroot.mount then cannot mount.
      wantedBy = [ "sysroot.mount" ];
      before = [ "sysroot.mount" ];
      requires = [ "keystone-import-pool.service" ];
      after = [ "keystone-import-pool.service" ];
      unitConfig = {
        DefaultDependencies = false;
        RequiresMountsFor = "/etc/credstore";
      };
      serviceConfig = {
        # systemd hands the key over in $CREDENTIALS_DIRECTORY, readable by this unit only.
        # LoadCredential= with the path named (systemd 247) rather than ImportCredential=
        # (systemd 254, which searches /etc/credstore itself): the rehearsal machine's systemd
        # 252 ignored ImportCredential= and the key never arrived (systemd.exec(5) of 252).
        # Not RemainAfterExit: the copy disappears as soon as the key is loaded.
        Type = "oneshot";
        LoadCredential = "${keyCredential}:/etc/credstore/${keyCredential}";
      };
      script = loadKey;
    };

    # udev and systemd-cryptsetup race for the zvol during the initrd transition
    # (PROVISIONING-FACTS.md §2.1).
    systemd-udevd.before = [ "systemd-cryptsetup@credstore.service" ];
  };

  # fileSystems would put this in the real system's fstab too; it belongs to the initrd only.
  mounts = [
    {
      what = "/dev/mapper/credstore";
      where = "/etc/credstore";
      type = "ext4";
      options = "ro,nodev,nosuid,noexec";
      requires = [ "systemd-cryptsetup@credstore.service" ];
      after = [ "systemd-cryptsetup@credstore.service" ];
      unitConfig.DefaultDependencies = false;
    }
  ];

  # The credstore is unmounted and closed before switch-root: the running system never has the
  # ZFS key in a readable file.
  targets.initrd-switch-root = {
    conflicts = [
      "etc-credstore.mount"
      "systemd-cryptsetup@credstore.service"
    ];
    after = [
      "etc-credstore.mount"
      "systemd-cryptsetup@credstore.service"
    ];
  };
}
