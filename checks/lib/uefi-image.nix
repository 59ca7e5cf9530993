# A disk image for Secure Boot checks: the ESP as Lanzaboote installs it, the store on its own
# partition and a persistent root, booted by OVMF with Secure Boot support. Re-derived from
# nix-community/lanzaboote nix/tests/lanzaboote/common/image.nix @ f142433; option names from
# nixpkgs nixos/modules/image/repart.nix (image.repart.*) and
# nixos/modules/virtualisation/qemu-vm.nix (virtualisation.{useEFIBoot,useSecureBoot,efi.OVMF,
# directBoot.enable,mountHostNixStore,useDefaultFilesystems,fileSystems}).
{
  config,
  lib,
  pkgs,
  modulesPath,
  ...
}:
let
  lanzaboote = config.boot.lanzaboote;

  # What `lzbt install` puts on the ESP for generation 1. Keys do not exist yet at build time
  # (they are generated on first boot), so the images are unsigned: boot.lanzaboote.allowUnsigned
  # follows autoGenerateKeys.enable.
  espFiles = pkgs.runCommand "esp-files" { } ''
    mkdir -p $out
    ln -s ${config.system.build.toplevel} system-1-link
    ${lanzaboote.installCommand} \
      --public-key ${lanzaboote.publicKeyFile} \
      --private-key ${lanzaboote.privateKeyFile} \
      $out \
      system-1-link
  '';

  # The system profile and a Nix database, so that nix and switch-to-configuration work.
  nixState = pkgs.runCommand "nix-state" { nativeBuildInputs = [ pkgs.buildPackages.nix ]; } ''
    mkdir -p $out/profiles
    ln -s ${config.system.build.toplevel} $out/profiles/system-1-link
    ln -s /nix/var/nix/profiles/system-1-link $out/profiles/system
    export NIX_STATE_DIR=$out
    nix-store --load-db < ${pkgs.closureInfo { rootPaths = [ config.system.build.toplevel ]; }}/registration
  '';
in
{
  imports = [ (modulesPath + "/image/repart.nix") ];

  fileSystems = {
    "/boot" = {
      device = "/dev/disk/by-partlabel/esp";
      fsType = "vfat";
      options = [ "umask=077" ];
    };
    "/" = {
      device = "/dev/disk/by-partlabel/root";
      fsType = "ext4";
    };
    "/nix/store" = {
      device = "/dev/disk/by-partlabel/nix-store";
      fsType = "erofs";
      options = [ "ro" ];
    };
  };

  system.image = {
    id = config.system.name;
    version = config.system.nixos.version;
  };

  image.repart = {
    name = config.system.name;
    mkfsOptions.erofs = [ "-z lz4" ];
    partitions = {
      esp = {
        contents."/".source = espFiles;
        repartConfig = {
          Type = "esp";
          Format = "vfat";
          Label = "esp";
          SizeMinBytes = "128M";
        };
      };
      nix-store = {
        storePaths = [ config.system.build.toplevel ];
        nixStorePrefix = "/";
        repartConfig = {
          Type = "linux-generic";
          Format = "erofs";
          Label = "nix-store";
          Minimize = "best";
        };
      };
      root = {
        contents."/nix/var/nix".source = nixState;
        repartConfig = {
          Type = "root";
          Format = "ext4";
          Label = "root";
          SizeMinBytes = "256M";
        };
      };
    };
  };

  virtualisation = {
    directBoot.enable = false;
    mountHostNixStore = false;
    fileSystems = lib.mkForce { };
    useDefaultFilesystems = false;
    useEFIBoot = true;
    useSecureBoot = true;
    # OVMF with Secure Boot support and an empty key database (Setup Mode).
    efi.OVMF = pkgs.OVMFFull.fd;
  };
}
