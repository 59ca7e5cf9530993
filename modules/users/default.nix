# The fleet's admins: each is a normal user in `wheel`, logs in with SSH keys only and uses sudo
# for day-2 work (`nixos-rebuild --target-host`, `keystone enroll`). Nobody has a password, so
# sudo asks for none; root cannot log in over SSH (modules/roles/baseline.nix).
#
# Option names: nixpkgs nixos/modules/config/users-groups.nix (users.mutableUsers,
# users.users.<name>.{isNormalUser,extraGroups,openssh.authorizedKeys.keys,hashedPassword}),
# nixos/modules/security/sudo.nix (security.sudo.wheelNeedsPassword).
{ config, lib, ... }:
let
  cfg = config.keystone.users;
  role = config.keystone.role or null;
  adminsWithKeys = lib.filterAttrs (_: admin: admin.sshKeys != [ ]) cfg.admins;
in
{
  options.keystone.users.admins = lib.mkOption {
    type = lib.types.attrsOf (
      lib.types.submodule {
        options.sshKeys = lib.mkOption {
          type = lib.types.listOf lib.types.str;
          default = [ ];
          example = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM97szXfPQIyB7HG36CpXtNVR5xg4mXjD23yWbv6K/c2 alice@laptop" ];
          description = "Public SSH keys this admin logs in with; set from `admins[].sshKeys` in the host file.";
        };
      }
    );
    default = { };
    example = {
      alice.sshKeys = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM97szXfPQIyB7HG36CpXtNVR5xg4mXjD23yWbv6K/c2 alice@laptop" ];
    };
    description = ''
      Admins of this host by user name. Each becomes a member of `wheel` with the given SSH keys
      and no password. Written by `keystone generate` from the host file's `admins`.
    '';
  };

  config = lib.mkIf (cfg.admins != { }) {
    assertions = [
      {
        assertion = role == null || adminsWithKeys != { };
        message = ''
          keystone.users: no admin has an SSH key, so nobody could log in after the install.
          Add one to the host file (admins: [{ name: alice, sshKeys: [ssh-ed25519 …] }]) or set
          keystone.users.admins.alice.sshKeys = [ "ssh-ed25519 AAAA… alice@laptop" ];
        '';
      }
    ];

    # Accounts come only from the configuration: a user added by hand disappears at the next
    # switch instead of lingering unreviewed.
    users.mutableUsers = lib.mkDefault false;

    users.users = lib.mkMerge [
      (lib.mapAttrs (_: admin: {
        isNormalUser = true;
        extraGroups = [ "wheel" ];
        openssh.authorizedKeys.keys = admin.sshKeys;
        # "!" is a locked password: login by key only.
        hashedPassword = lib.mkDefault "!";
      }) cfg.admins)
      {
        # Keystone's own logins (ssh.user: root, the default) use the admins' keys; see
        # modules/roles/baseline.nix for PermitRootLogin.
        root.openssh.authorizedKeys.keys = lib.mkDefault (
          lib.concatMap (admin: admin.sshKeys) (lib.attrValues cfg.admins)
        );
      }
    ];

    # There is no password to type.
    security.sudo.wheelNeedsPassword = lib.mkDefault false;
  };
}
