# Install checks/hosts/tpm1 (the real credstore layout) on an empty disk, boot it with the
# passphrase, enroll the TPM (PCRs 1+7) and a recovery key the way `keystone enroll` does, and
# prove that the next boots unlock without a passphrase while the recovery key still works.
{ installLib }:
let
  installed = installLib.installedSystem { host = "tpm1"; };
in
{
  name = "vm-install-credstore-tpm";

  nodes.installer = installLib.installerNode installed;

  testScript = ''
    ${installLib.testScriptHelpers installed}

    credstore = "/dev/zvol/rpool/credstore"
    disks = make_disks(["ks-disk0"])

    # install: disko partitions the by-id disk, nixos-anywhere-style
    os.environ["QEMU_OPTS"] = " ".join(drive_flags(disks))
    installer.start()
    del os.environ["QEMU_OPTS"]
    install(installer)

    # first boot: no TPM token yet, the initrd asks for the passphrase
    machine = boot_installed("tpm1", disks, tpm=True)
    machine.start()
    type_passphrase(machine)
    machine.wait_for_unit("multi-user.target")
    status = machine.succeed("keystone-tpm-status")
    print(status)
    t.assertIn('"tpm2Enrolled": false', status)
    t.assertIn('"present": true', status)

    # enroll: a recovery key, then the TPM bound to PCRs 1+7, which wipes the passphrase
    machine.succeed(f"install -m 0400 /dev/null /run/unlock && printf %s {shlex.quote(PASSPHRASE)} > /run/unlock")
    output = machine.succeed(f"systemd-cryptenroll {credstore} --recovery-key --unlock-key-file=/run/unlock 2>&1")
    recovery_key = re.search(r"[a-z]{8}(?:-[a-z]{8}){7}", output).group(0)
    machine.succeed(
        f"systemd-cryptenroll {credstore} --tpm2-device=auto --tpm2-pcrs=${installed.keystone.tpm.pcrsArg}"
        " --wipe-slot=password --unlock-key-file=/run/unlock"
    )
    machine.succeed("rm /run/unlock")
    status = machine.succeed("keystone-tpm-status")
    print(status)
    t.assertIn('"tpm2Enrolled": true', status)
    t.assertIn('"recoveryKey": true', status)

    # reboot, twice: the TPM unlocks the credstore with no one at the console
    for _ in range(2):
        machine.shutdown()
        machine.start()
        machine.wait_for_unit("multi-user.target")
        machine.succeed("journalctl -b -u systemd-cryptsetup@credstore.service --no-pager | grep -i tpm2")

    # the root, /nix and /var are ZFS datasets encrypted by rpool/crypt
    for mountpoint in ["/", "/nix", "/var"]:
        dataset = machine.succeed(f"findmnt -no SOURCE,FSTYPE {mountpoint}").split()
        t.assertEqual(dataset[1], "zfs")
        root = machine.succeed(f"zfs get -H -o value encryptionroot {dataset[0]}").strip()
        t.assertEqual(root, "rpool/crypt")
    machine.succeed("zfs get -H -o value keystatus rpool/crypt | grep -qx available")

    # the credstore was closed before switch-root; the key file is nowhere to read
    machine.fail("test -e /dev/mapper/credstore")
    machine.fail("test -e /etc/credstore/zfs-sysroot.mount")
    machine.fail("find /run/credentials -name zfs-sysroot.mount | grep .")

    # the recovery key still unlocks; the wiped passphrase and a wrong key do not
    machine.succeed(f"printf %s {recovery_key} > /run/recovery")
    machine.succeed(f"cryptsetup open --test-passphrase --key-file=/run/recovery {credstore}")
    machine.succeed(f"printf %s {shlex.quote(PASSPHRASE)} > /run/old")
    machine.fail(f"cryptsetup open --test-passphrase --key-file=/run/old {credstore}")
    machine.succeed("printf %s wrong-key > /run/wrong")
    machine.fail(f"cryptsetup open --test-passphrase --key-file=/run/wrong {credstore}")

    # swap is encrypted with a fresh random key at each boot
    machine.succeed("swapon --show=NAME --noheadings | grep -qE '^/dev/(dm-|mapper/)'")
  '';
}
