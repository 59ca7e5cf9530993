# Generated from hosts/unlock1.yaml by `keystone generate unlock1` — do not edit.
# digest: sha256:bf806a9f1e55788cafca304112b32386
{
  networking = {
    hostName = "unlock1";
    hostId = "7e570002";
  };
  nixpkgs.hostPlatform = "x86_64-linux";
  system.stateVersion = "25.11";
  keystone = {
    role = "server";
    disk = {
      enable = true;
      pool = "rpool";
      devices = [
        "/dev/disk/by-id/virtio-ks-disk2"
        "/dev/disk/by-id/virtio-ks-disk3"
      ];
      espMountPoints = [ "/boot" "/boot1" ];
      arcMaxBytes = 268435456;
    };
    secureBoot = {
      enable = false;
      microsoftKeys = true;
      keys = "provided";
    };
    tpm = {
      enable = false;
      pcrs = [ 1 7 ];
    };
    remoteUnlock = {
      enable = true;
      port = 2222;
      networkModules = [ ];
    };
    users.admins.alice.sshKeys = [
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGRwRoCuwSk9ea+dNb62TDVgJ1KISnJRU4dtbea80C7R keystone-checks-admin (test only)"
    ];
    mesh.enable = false;
  };
}
