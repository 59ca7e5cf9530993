# Generated from hosts/desk1.yaml by `keystone generate desk1` — do not edit.
# digest: sha256:0153a75f43edc9b0c0b279d36131dec6
{
  networking = {
    hostName = "desk1";
    hostId = "c0ffee42";
  };
  nixpkgs.hostPlatform = "x86_64-linux";
  system.stateVersion = "25.11";
  keystone = {
    role = "workstation";
    disk = {
      enable = true;
      pool = "rpool";
      devices = [
        "/dev/disk/by-id/nvme-WD_BLACK_SN850X_2000GB_23123K800123"
      ];
      espMountPoints = [ "/boot" ];
      arcMaxBytes = 2147483648;
    };
    secureBoot = {
      enable = true;
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
    users.admins.bob.sshKeys = [
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBhn035meObEqjC+KGfjD0UyEcpq1SSJc1sQqO3uPugF bob@laptop"
    ];
    mesh = {
      enable = true;
      loginServer = "https://headscale.example.org";
      tags = [ "tag:workstation" ];
      server = false;
    };
  };
}
