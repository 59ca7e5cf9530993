# Secure Boot with keys made on first boot (keystone.secureBoot.keys = "first-boot"): the host
# generates its keys, signs its boot files, has systemd-boot enroll them, and after one reboot
# the firmware enforces Secure Boot with the host's own keys. Assertions follow lanzaboote's
# nix/tests/lanzaboote/auto-generate-enroll.nix.
{
  name = "vm-secure-boot";

  nodes.machine =
    { lib, ... }:
    {
      imports = [ ./lib/uefi-image.nix ];
      keystone.secureBoot = {
        enable = true;
        keys = "first-boot";
      };
      # The check reboots by itself, so that it can look at the state before the reboot.
      boot.lanzaboote.autoEnrollKeys.autoReboot = lib.mkForce false;
      boot.loader.timeout = 0;
      virtualisation.tpm.enable = true;
    };

  testScript =
    { nodes, ... }:
    let
      machine = nodes.machine;
    in
    ''
      import os
      import subprocess
      import tempfile

      # boot a copy-on-write overlay of the image, with the firmware in Setup Mode
      disk = tempfile.NamedTemporaryFile()
      subprocess.run([
          "${machine.virtualisation.qemu.package}/bin/qemu-img", "create", "-f", "qcow2",
          "-b", "${machine.system.build.image}/${machine.image.fileName}", "-F", "raw", disk.name,
      ], check=True)
      os.environ["NIX_DISK_IMAGE"] = disk.name
      machine.start(allow_reboot=True)

      # first boot: keys are generated and staged for enrollment, Secure Boot is off
      machine.wait_for_unit("generate-sb-keys.service")
      machine.succeed("test -e /var/lib/sbctl/keys/db/db.pem")
      machine.wait_for_unit("prepare-sb-auto-enroll.service")
      machine.succeed("ls /boot/loader/keys/auto | grep -q PK.auth")
      t.assertIn("Secure Boot: disabled", machine.succeed("bootctl status"))
      t.assertIn("✓", machine.succeed("sbctl verify"))

      # reboot: systemd-boot enrolls the keys, the firmware now enforces Secure Boot
      machine.reboot()
      machine.wait_for_unit("multi-user.target")
      status = machine.succeed("bootctl status")
      print(status)
      t.assertIn("Secure Boot: enabled (user)", status)

      # the keys are made once: both units skip on later boots
      t.assertIn("start condition unmet", machine.fail("systemctl status generate-sb-keys.service"))
      t.assertIn("start condition unmet", machine.fail("systemctl status prepare-sb-auto-enroll.service"))
      # Microsoft's certificates were kept in db
      machine.succeed("sbctl status | grep -i microsoft")
    '';
}
