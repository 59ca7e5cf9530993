# Install checks/hosts/unlock1 (two mirrored disks, no TPM) and unlock it from a second machine
# over SSH in the initrd: the initrd presents its own pinned host key, refuses a key that is not
# an admin's, and boots once the admin has typed the passphrase.
{ installLib }:
let
  # The test network has no DHCP server: the initrd gets a fixed address on the test VLAN.
  serverMac = "52:54:00:12:01:32";
  serverAddress = "192.168.1.50";
  installed = installLib.installedSystem {
    host = "unlock1";
    extraModules = [
      (
        { lib, ... }:
        {
          # A test key in the store; a real host's key never is (it is an initrd secret).
          keystone.remoteUnlock.hostKey = "${./fixtures/initrd-host-ed25519}";
          boot.initrd.systemd.network.networks."10-keystone-unlock" = lib.mkForce {
            matchConfig.MACAddress = serverMac;
            networkConfig.DHCP = "no";
            address = [ "${serverAddress}/24" ];
          };
        }
      )
    ];
  };
  knownHosts = "[${serverAddress}]:2222 ${builtins.readFile ./fixtures/initrd-host-ed25519.pub}";
in
{
  name = "vm-remote-unlock";

  nodes.installer = installLib.installerNode installed;
  nodes.admin =
    { pkgs, ... }:
    {
      environment.systemPackages = [ pkgs.netcat ];
      environment.etc."keystone-known-hosts".text = knownHosts;
    };

  testScript = ''
    ${installLib.testScriptHelpers installed}

    ssh = "ssh -tt -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/etc/keystone-known-hosts -p 2222"
    disks = make_disks(["ks-disk2", "ks-disk3"])

    # install on both mirror disks
    os.environ["QEMU_OPTS"] = " ".join(drive_flags(disks))
    installer.start()
    del os.environ["QEMU_OPTS"]
    install(installer)

    # boot: the initrd waits for the passphrase and listens on port 2222
    server = boot_installed("unlock1", disks, extra=[
        "-device", "virtio-net-pci,netdev=vlan1,mac=${serverMac}",
        "-netdev", "vde,id=vlan1,sock=$QEMU_VDE_SOCKET_1",
    ])
    server.start()
    admin.start()
    admin.wait_for_unit("network.target")
    admin.wait_until_succeeds("nc -z ${serverAddress} 2222", timeout=300)

    # a key that is not an admin's is refused
    admin.succeed("ssh-keygen -q -t ed25519 -N \"\" -f /root/stranger")
    admin.fail(f"echo {PASSPHRASE} | {ssh} -o BatchMode=yes -i /root/stranger root@${serverAddress}")

    # the admin's key logs in to the password agent and unlocks; the host key is the pinned one
    admin.succeed("install -m 0600 ${./fixtures/admin-ed25519} /root/admin")
    admin.succeed(f"echo {PASSPHRASE} | {ssh} -o BatchMode=yes -i /root/admin root@${serverAddress}")
    server.wait_for_unit("multi-user.target")

    # the system runs from the encrypted mirror, the credstore is closed
    server.succeed("zfs get -H -o value encryptionroot rpool/crypt/system | grep -qx rpool/crypt")
    server.succeed("zpool status rpool | grep -q mirror")
    server.succeed("test \"$(zpool status rpool | grep -c 'virtio-ks-disk.*ONLINE')\" = 2")
    server.fail("test -e /dev/mapper/credstore")
    # the initrd's network and SSH server are gone after switch-root
    admin.fail("nc -z ${serverAddress} 2222")
  '';
}
