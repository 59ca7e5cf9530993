# Generated from hosts/web1.yaml by `keystone generate web1` — do not edit.
# digest: sha256:2df56f7fe403b21a8401018326dbb18e
{
  networking = {
    hostName = "web1";
    hostId = "8425e349";
  };
  nixpkgs.hostPlatform = "x86_64-linux";
  system.stateVersion = "25.11";
  keystone = {
    role = "server";
    disk = {
      enable = true;
      pool = "rpool";
      devices = [
        "/dev/disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S5GXNX0T123456A"
      ];
      espMountPoints = [ "/boot" ];
      arcMaxBytes = 4294967296;
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
    users.admins.alice.sshKeys = [
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM97szXfPQIyB7HG36CpXtNVR5xg4mXjD23yWbv6K/c2 alice@laptop"
    ];
    mesh.enable = false;
  };
}
