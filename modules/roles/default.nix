# What a host is for. Both roles share a security baseline; a role of null adds nothing, so that
# a single Keystone module can be used on its own (as the VM checks do).
{ lib, ... }:
{
  imports = [
    ./baseline.nix
    ./server.nix
    ./workstation.nix
  ];

  options.keystone.role = lib.mkOption {
    type = lib.types.nullOr (
      lib.types.enum [
        "server"
        "workstation"
      ]
    );
    default = null;
    example = "server";
    description = ''
      "server": headless, hardened SSH, automatic garbage collection. "workstation": the same
      baseline plus a Hyprland desktop. Set from `role` in the host file.
    '';
  };
}
