# Generated from hosts/tpm1.yaml by `keystone generate tpm1` — do not edit.
# digest: sha256:3c7db1f4f5c114400b3f2542165df498
{
  networking = {
    hostName = "tpm1";
    hostId = "7e570001";
  };
  nixpkgs.hostPlatform = "x86_64-linux";
  system.stateVersion = "25.11";
  keystone = {
    role = "server";
    disk = {
      enable = true;
      pool = "rpool";
      devices = [ "/dev/disk/by-id/virtio-ks-disk0" ];
      espMountPoints = [ "/boot" ];
      arcMaxBytes = 268435456;
    };
    secureBoot = {
      enable = false;
      microsoftKeys = true;
      keys = "provided";
    };
    tpm = {
      enable = true;
      pcrs = [ 1 7 ];
    };
    remoteUnlock = {
      enable = false;
      port = 2222;
      networkModules = [ ];
    };
    users.admins.alice.sshKeys = [
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGRwRoCuwSk9ea+dNb62TDVgJ1KISnJRU4dtbea80C7R keystone-checks-admin (test only)"
    ];
    mesh.enable = false;
  };
}
