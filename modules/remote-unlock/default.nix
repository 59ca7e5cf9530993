# Unlock over SSH in the initrd, for hosts without a TPM or after a PCR change: an admin runs
# `ssh -p <port> root@<host>` and is asked for the credstore passphrase or recovery key.
# The initrd has its own host key, never the system's: the initrd sits unencrypted on the ESP,
# so its key is readable by anyone holding the disk and must not impersonate the running host.
#
# Option names: nixpkgs nixos/modules/system/boot/initrd-ssh.nix
# (boot.initrd.network.ssh.{enable,port,authorizedKeys,hostKeys}),
# nixos/modules/system/boot/initrd-network.nix (boot.initrd.network.enable),
# nixos/modules/system/boot/networkd.nix (boot.initrd.systemd.network.{enable,networks}),
# nixos/modules/system/boot/systemd/initrd.nix (boot.initrd.systemd.users.root.shell).
{
  config,
  lib,
  ...
}:
let
  cfg = config.keystone.remoteUnlock;
  admins = config.keystone.users.admins or { };
  adminKeys = lib.concatMap (admin: admin.sshKeys) (lib.attrValues admins);
in
{
  options.keystone.remoteUnlock = {
    enable = lib.mkEnableOption "unlocking the disks over SSH in the initrd";

    port = lib.mkOption {
      type = lib.types.port;
      default = 2222;
      example = 22;
      description = ''
        SSH port of the initrd. A port other than the system's keeps the two host keys apart in
        the admins' known_hosts files.
      '';
    };

    networkModules = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      example = [
        "igb"
        "e1000e"
      ];
      description = ''
        Kernel modules of the network card, loaded in the initrd. `lspci -k` on the host names
        the driver ("Kernel driver in use").
      '';
    };

    hostKey = lib.mkOption {
      type = lib.types.either lib.types.str lib.types.path;
      default = "/etc/secrets/initrd/ssh_host_ed25519_key";
      example = "/etc/secrets/initrd/ssh_host_ed25519_key";
      description = ''
        Private host key of the initrd's SSH server, on the host. `keystone deploy` generates it
        and pins its public half in the host file; it is copied into the initrd when the boot
        loader is installed, never into the Nix store.
      '';
    };

    authorizedKeys = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = adminKeys;
      defaultText = lib.literalExpression "all keys of keystone.users.admins";
      example = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM97szXfPQIyB7HG36CpXtNVR5xg4mXjD23yWbv6K/c2 alice@laptop" ];
      description = "Public keys that may log in to the initrd to unlock it.";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.authorizedKeys != [ ];
        message = ''
          keystone.remoteUnlock: nobody could log in to unlock the disks. Add an admin with an SSH
          key to the host file (admins: [{ name: alice, sshKeys: [ssh-ed25519 …] }]) or set
          keystone.remoteUnlock.authorizedKeys = [ "ssh-ed25519 AAAA… you@laptop" ];
        '';
      }
      {
        assertion = config.boot.initrd.systemd.enable;
        message = ''
          keystone.remoteUnlock: the unlock prompt uses systemd's password agent. Set:
          boot.initrd.systemd.enable = true;
        '';
      }
    ];

    boot.initrd.availableKernelModules = cfg.networkModules;
    boot.initrd.network = {
      enable = true;
      ssh = {
        enable = true;
        inherit (cfg) port authorizedKeys;
        hostKeys = [ cfg.hostKey ];
      };
    };

    # DHCP on every wired interface; the initrd's network goes down again before switch-root.
    boot.initrd.systemd.network = {
      enable = true;
      networks."10-keystone-unlock" = {
        matchConfig.Name = [
          "en*"
          "eth*"
        ];
        networkConfig.DHCP = "yes";
      };
    };

    # Logging in answers the pending password prompts instead of opening a shell.
    boot.initrd.systemd.users.root.shell = "/bin/systemd-tty-ask-password-agent";
  };
}
