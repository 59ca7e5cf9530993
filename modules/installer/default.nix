# The Keystone installer ISO, for machines that cannot be kexec'd into nixos-anywhere's
# installer: boot it from USB, and `keystone deploy` reaches it over SSH as root with an admin's
# key. Not part of nixosModules.default: it turns a configuration into a live system.
#
# Build: nix build .#installer-iso (flake.nix passes the fleet's admin keys).
#
# Option names: nixpkgs nixos/modules/installer/cd-dvd/installation-cd-minimal.nix (the profile),
# nixos/modules/installer/cd-dvd/iso-image.nix (image.fileName, isoImage.volumeID),
# nixos/modules/tasks/filesystems/zfs.nix (boot.supportedFilesystems.zfs),
# nixos/modules/services/networking/ssh/sshd.nix (services.openssh.*). What nixos-anywhere needs
# in an installer: nix-community/nixos-anywhere docs/requirements.md (SSH as root, nix, ≥1.5 GB
# RAM, the disk tools disko calls).
{
  config,
  lib,
  pkgs,
  modulesPath,
  ...
}:
let
  cfg = config.keystone.installer;
in
{
  imports = [ (modulesPath + "/installer/cd-dvd/installation-cd-minimal.nix") ];

  options.keystone.installer.sshKeys = lib.mkOption {
    type = lib.types.listOf lib.types.str;
    default = [ ];
    example = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM97szXfPQIyB7HG36CpXtNVR5xg4mXjD23yWbv6K/c2 alice@laptop" ];
    description = "Public keys that may log in to the installer as root; flake.nix gives it every admin of the fleet.";
  };

  config = {
    assertions = [
      {
        assertion = cfg.sshKeys != [ ];
        message = ''
          keystone.installer: nobody could log in to the installer. Give it the admins' keys:
          keystone.installer.sshKeys = [ "ssh-ed25519 AAAA… you@laptop" ];
        '';
      }
    ];

    # nixos-anywhere and `keystone deploy` connect as root, with keys only.
    users.users.root.openssh.authorizedKeys.keys = cfg.sshKeys;
    services.openssh = {
      enable = true;
      settings = {
        PasswordAuthentication = lib.mkForce false;
        KbdInteractiveAuthentication = lib.mkForce false;
        PermitRootLogin = lib.mkForce "prohibit-password";
      };
    };

    # The default kernel is the one nixpkgs builds ZFS for; a newer one may have no ZFS module.
    boot.supportedFilesystems.zfs = true;
    # ZFS refuses to work without a host id. The installer's is fixed; the installed system
    # brings its own, and nixos-anywhere exports the pool before the reboot.
    networking.hostId = lib.mkDefault "4b657973";

    environment.systemPackages = [
      pkgs.sbctl
      pkgs.tpm2-tools
      pkgs.cryptsetup
      pkgs.jq
      pkgs.nixos-facter
    ];

    nix.settings.experimental-features = [
      "nix-command"
      "flakes"
    ];

    image.fileName = lib.mkForce "keystone-installer-${config.system.nixos.label}-${pkgs.stdenv.hostPlatform.system}.iso";
    isoImage.volumeID = lib.mkForce "KEYSTONE";
  };
}
