# The Keystone installer ISO for one system, with the given admins' SSH keys for root: for hosts
# that cannot be kexec'd into the installer by nixos-anywhere.
{
  nixosSystem,
  installerModule,
  system,
  sshKeys,
}:
(nixosSystem {
  modules = [
    installerModule
    {
      nixpkgs.hostPlatform = system;
      keystone.installer.sshKeys = sshKeys;
    }
  ];
}).config.system.build.isoImage
