# Generated from hosts/storage1.yaml by `keystone generate storage1` — do not edit.
# digest: sha256:5f83a129c0fa5371a77fdfe4d861f663
{
  networking = {
    hostName = "storage1";
    hostId = "3f1c9a72";
  };
  nixpkgs.hostPlatform = "x86_64-linux";
  system.stateVersion = "25.11";
  keystone = {
    role = "server";
    disk = {
      enable = true;
      pool = "rpool";
      devices = [
        "/dev/disk/by-id/ata-WDC_WD40EFRX-68N32N0_WD-WCC7K0XXXXX1"
        "/dev/disk/by-id/ata-WDC_WD40EFRX-68N32N0_WD-WCC7K0XXXXX2"
      ];
      espMountPoints = [ "/boot" "/boot1" ];
      arcMaxBytes = 8589934592;
    };
    secureBoot = {
      enable = true;
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
      networkModules = [ "igb" ];
    };
    users.admins = {
      alice.sshKeys = [
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM97szXfPQIyB7HG36CpXtNVR5xg4mXjD23yWbv6K/c2 alice@laptop"
      ];
      bob.sshKeys = [
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBhn035meObEqjC+KGfjD0UyEcpq1SSJc1sQqO3uPugF bob@laptop"
      ];
    };
    mesh.enable = false;
    syncAgent = {
      enable = true;
      store = "file:///srv/backups/keystone";
      endpoint = null;
      region = "us-east-1";
      caFile = null;
      pathStyle = true;
      paths = [
        {
          path = "/var/lib/important";
          mode = "backup";
        }
      ];
      intervalSeconds = 3600;
      watch = false;
      retention = {
        last = null;
        hourly = null;
        daily = null;
        weekly = null;
        monthly = null;
      };
      metrics.enable = false;
    };
  };
}
