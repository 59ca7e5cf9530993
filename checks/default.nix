# `nix flake check`: eval-* checks evaluate (cheap), vm-* checks boot VMs (need KVM; minutes
# each). Run one with `nix build .#checks.x86_64-linux.<name> -L`.
{
  pkgs,
  self,
  nixpkgs,
}:
let
  inherit (pkgs) lib;
  keystoneModules = self.nixosModules;

  # Every test node has all Keystone modules; each check turns on what it tests.
  # nixpkgs nixos/lib/testing (defaults, node.specialArgs, globalTimeout).
  runTest =
    module:
    pkgs.testers.runNixOSTest {
      imports = [ module ];
      defaults.imports = [ keystoneModules.default ];
      node.specialArgs = { inherit keystoneModules; };
      globalTimeout = 30 * 60;
    };

  installLib = import ./lib/install.nix {
    inherit
      pkgs
      lib
      nixpkgs
      keystoneModules
      ;
  };
in
{
  eval-hosts = import ./eval-hosts.nix {
    inherit pkgs lib;
    nixosConfigurations = self.nixosConfigurations;
  };
  eval-options-doc = import ./eval-options-doc.nix {
    inherit
      pkgs
      lib
      nixpkgs
      keystoneModules
      ;
  };
  vm-install-credstore-tpm = runTest (import ./vm-install-credstore-tpm.nix { inherit installLib; });
  vm-remote-unlock = runTest (import ./vm-remote-unlock.nix { inherit installLib; });
  vm-secure-boot = runTest ./vm-secure-boot.nix;
  vm-mesh = runTest ./vm-mesh.nix;
  vm-sync-two-nodes = runTest ./vm-sync-two-nodes.nix;
}
