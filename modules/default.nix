# Every Keystone module, without their upstream dependencies (disko's and Lanzaboote's modules),
# which flake.nix adds: nixosModules.default = this plus those.
{
  imports = [
    ./disk
    ./tpm
    ./secure-boot
    ./remote-unlock
    ./users
    ./roles
    ./mesh
    ./sync-agent
    ./secrets
  ];
}
