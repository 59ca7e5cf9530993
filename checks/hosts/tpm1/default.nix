# Generated from hosts/tpm1.yaml by `keystone generate tpm1` — do not edit.
# digest: sha256:15cfc93cbc9256b8202a560e248ab347
# The host as a NixOS module. `keystoneModules` is passed by `keystone.lib.mkFleet`.
{ keystoneModules, ... }:
{
  imports = [
    keystoneModules.default
    ./disko.nix
    ./keystone.nix
  ];
}
