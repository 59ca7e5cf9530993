# The credstore boot: the root pool's key lives in a small LUKS volume ("credstore", a zvol of the
# same pool) that the TPM or a passphrase unlocks in the initrd. The pool itself is imported bare,
# the credstore is opened and mounted on /etc/credstore, the key for <pool>/crypt is loaded from
# it, and the credstore is closed again before switch-root, so the running system never holds the
# key in a mounted file. The disko layout (hosts/<name>/disko.nix) creates the pool, the zvol and
# the datasets; this module wires the initrd around them.
#
# Option names below are read from nixpkgs nixos/modules/tasks/filesystems/zfs.nix
# (boot.zfs.*, services.zfs.autoScrub/trim), nixos/modules/system/boot/systemd/initrd.nix
# (boot.initrd.systemd.{enable,services,mounts,targets,emergencyAccess}) and
# nixos/modules/system/boot/luksroot.nix (boot.initrd.luks.devices); the unit layout follows the
# credstore pattern in ../shared/reference/PROVISIONING-FACTS.md §2.1.
{
  config,
  lib,
  pkgs,
  utils,
  ...
}:
let
  cfg = config.keystone.disk;
  zfs = config.boot.zfs.package;
  cryptRoot = "${cfg.pool}/crypt";

  # A missing mirror member must not stop the boot: the import waits for each member (Wants=, not
  # Requires=), and the device job's timeout lets a degraded pool import.
  memberUnits = map (device: "${utils.escapeSystemdPath device}.device") cfg.poolMembers;

  # Every ZFS file system the initrd mounts must sit under <pool>/crypt: a dataset created outside
  # it (by hand, or by a later edit of the layout) would be readable without the key.
  bootDatasets = map (fs: fs.device) (
    lib.filter (fs: fs.fsType == "zfs" && utils.fsNeededForBoot fs) (lib.attrValues config.fileSystems)
  );

  # The units themselves, shared with the rehearsal machine (credstore-boot-units.nix).
  units = import ./credstore-boot-units.nix {
    inherit (cfg) pool devNodes;
    zpool = "${zfs}/sbin/zpool";
    zfs = "${zfs}/sbin/zfs";
    inherit memberUnits bootDatasets;
  };
in
{
  options.keystone.disk = {
    enable = lib.mkEnableOption "the Keystone encrypted ZFS root with a TPM-unlocked credstore";

    pool = lib.mkOption {
      type = lib.types.strMatching "[A-Za-z][A-Za-z0-9_.:-]*";
      default = "rpool";
      example = "tank";
      description = ''
        Name of the ZFS root pool. Must match the pool in the host's disko.nix, which
        `keystone generate` writes from the same host file; change both through `storage.pool.name`.
      '';
    };

    devices = lib.mkOption {
      type = lib.types.nonEmptyListOf (lib.types.strMatching "/dev/disk/by-id/.+");
      example = [ "/dev/disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S5GXNX0T123456A" ];
      description = ''
        The pool's disks by stable id, in the order of the host file. Set by `keystone generate`;
        a /dev/sdX name is refused because it can point at another disk after a reboot.
      '';
    };

    poolMembers = lib.mkOption {
      type = lib.types.nonEmptyListOf lib.types.str;
      default = import ../../lib/pool-members.nix cfg.devices;
      defaultText = lib.literalExpression ''map (device: "''${device}-part2") config.keystone.disk.devices'';
      example = [ "/dev/disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S5GXNX0T123456A-part2" ];
      description = ''
        The block devices holding the pool, which the initrd waits for before importing it.
        Change it only for a layout that `keystone generate` did not write.
      '';
    };

    devNodes = lib.mkOption {
      type = lib.types.str;
      default = "/dev/disk/by-id";
      example = "/dev/disk/by-partlabel";
      description = ''
        Directory the initrd scans for pool members (`zpool import -d`). Stable names keep the
        import safe when device nodes are renamed; change it only where by-id links do not exist.
      '';
    };

    espMountPoints = lib.mkOption {
      type = lib.types.nonEmptyListOf lib.types.str;
      default = [ "/boot" ];
      example = [
        "/boot"
        "/boot1"
      ];
      description = ''
        Where each disk's EFI system partition is mounted. The first one is the boot loader's;
        the others are kept in sync so that any mirror disk can boot alone.
      '';
    };

    arcMaxBytes = lib.mkOption {
      type = lib.types.ints.positive;
      default = 4 * 1024 * 1024 * 1024;
      defaultText = lib.literalExpression "4 * 1024 * 1024 * 1024";
      example = 8589934592;
      description = ''
        Upper bound of the ZFS ARC in bytes (`zfs.zfs_arc_max`). Lower it on small machines so
        the cache leaves memory for services; set from `storage.pool.arcMax` in the host file.
      '';
    };

    scrubInterval = lib.mkOption {
      type = lib.types.str;
      default = "weekly";
      example = "monthly";
      description = "How often the pool is scrubbed (a systemd calendar expression).";
    };

    trimInterval = lib.mkOption {
      type = lib.types.str;
      default = "weekly";
      example = "daily";
      description = "How often the pool is trimmed (a systemd calendar expression).";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = config.networking.hostId != null;
        message = ''
          keystone.disk: ZFS needs networking.hostId. Set `hostId` in the host file and run
          `keystone generate`, or set: networking.hostId = "8425e349";
        '';
      }
      {
        assertion = config.boot.initrd.luks.devices ? credstore;
        message = ''
          keystone.disk: no LUKS device "credstore" is declared. Import the host's generated
          disko.nix (hosts/<name>/disko.nix, from `keystone generate`), which creates it.
        '';
      }
      {
        assertion = bootDatasets != [ ];
        message = ''
          keystone.disk: no ZFS file system is mounted at boot. The generated disko.nix mounts
          ${cryptRoot}/system on /; import it (hosts/<name>/disko.nix).
        '';
      }
    ];

    boot.supportedFilesystems.zfs = true;
    boot.initrd.supportedFilesystems = {
      zfs = true;
      # The credstore volume is ext4 (disko.nix).
      ext4 = true;
    };

    # The unit ordering below needs systemd in the initrd.
    boot.initrd.systemd.enable = true;
    # A root shell on a boot failure would bypass the disk encryption.
    boot.initrd.systemd.emergencyAccess = lib.mkDefault false;

    boot.loader.systemd-boot.enable = lib.mkDefault true;
    boot.loader.efi.canTouchEfiVariables = lib.mkDefault true;

    boot.zfs = {
      # Importing a pool that another host still uses corrupts it; -f is for the rescue shell.
      forceImportRoot = lib.mkDefault false;
      # Resuming from hibernation with an imported pool corrupts it (nixpkgs zfs.nix).
      allowHibernation = false;
      devNodes = cfg.devNodes;
    };
    boot.kernelParams = [ "zfs.zfs_arc_max=${toString cfg.arcMaxBytes}" ];

    services.zfs.autoScrub = {
      enable = lib.mkDefault true;
      interval = lib.mkDefault cfg.scrubInterval;
      pools = lib.mkDefault [ cfg.pool ];
    };
    services.zfs.trim = {
      enable = lib.mkDefault true;
      interval = lib.mkDefault cfg.trimInterval;
    };

    # The credstore zvol appears only after the pool is imported; TPM unlock options come from
    # modules/tpm, the passphrase and recovery key are the fallback.
    boot.initrd.luks.devices.credstore.device = lib.mkDefault "/dev/zvol/${cfg.pool}/credstore";

    boot.initrd.systemd = {
      # nixpkgs imports root pools with its own zfs-import-<pool> unit, which also loads keys
      # from keylocation; ours imports without mounting or loading keys, then checks datasets.
      services = units.services // {
        "zfs-import-${cfg.pool}".enable = false;
      };
      inherit (units) mounts targets;
    };

    environment.systemPackages = [ pkgs.cryptsetup ];
  };
}
