# Keystone's Nix library. Pure functions use builtins only; mkFleet needs nixpkgs' nixosSystem and
# this flake's modules, bound in flake.nix.
{ nixosSystem, keystoneModules }:
{
  mkFleet = import ./mk-fleet.nix { inherit nixosSystem keystoneModules; };
  poolMembers = import ./pool-members.nix;
  tpmPcrsArg = import ./tpm-pcrs.nix;
}
