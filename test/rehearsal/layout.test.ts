import t from 'tap'
import { needs } from '../helpers/needs.js'
import { applyLayout, bootRehearsal, needsRehearsal, rehearsalFleet } from '../helpers/rehearsal.js'

// Item 2 of the rehearsal: the layout Keystone generates for a host file naming the machine's
// disk, created on that disk and checked from inside the guest. Shared with a NixOS deploy: the
// generated hosts/<name>/disko.nix (read back through nix-instantiate, hooks included) and the
// key files at the paths deploy hands to nixos-anywhere. Not shared: disko's own create script,
// which needs nixpkgs; the same commands are derived from the same value (layout-script.ts).
// An emulated machine boots in about a minute: more than tap's 300 s per file for the whole test.
t.setTimeout(1_800_000)
const skip = needsRehearsal() || needs('nix-instantiate')

t.test(
  'the generated layout, applied to the rehearsal machine’s disk: GPT, encrypted pool, credstore, swap',
  { skip, timeout: 900_000 },
  async (t) => {
    const machine = await bootRehearsal(t, { disks: 1, diskSize: '8G' })
    const [disk] = machine.disks as [(typeof machine.disks)[0]]
    const fleet = await rehearsalFleet(machine, [disk.path])
    await applyLayout(t, machine, fleet)

    // GPT: ESP, ZFS member, swap at the end, by the labels disko gives them.
    const parts = JSON.parse(
      await machine.sh(`lsblk -J -b -o NAME,PARTLABEL,PARTTYPE,FSTYPE,SIZE ${disk.path}`),
    ) as {
      blockdevices: [
        {
          children: { partlabel: string; parttype: string; fstype: string | null; size: number }[]
        },
      ]
    }
    const children = parts.blockdevices[0].children
    t.same(
      children.map((p) => [p.partlabel, p.fstype]),
      [
        ['disk-disk0-esp', 'vfat'],
        ['disk-disk0-zfs', 'zfs_member'],
        ['disk-disk0-swap', 'swap'],
      ],
    )
    t.equal(
      children[0]!.parttype,
      'c12a7328-f81f-11d2-ba4b-00a0c93ec93b',
      'the ESP has the EFI system partition type',
    )
    t.equal(children[0]!.size, 1024 ** 3, 'the ESP is 1G')
    t.equal(children[2]!.size, 1024 ** 3, 'swap is the host file’s 1G, at the end')

    // The pool and its datasets, as the host file and the generator decided.
    const get = async (what: string) =>
      (await machine.sh(what))
        .trim()
        .split('\n')
        .map((line) => line.split('\t'))
    t.same(await get('zpool get -H -o property,value ashift,autotrim rpool'), [
      ['ashift', '12'],
      ['autotrim', 'on'],
    ])
    t.same(await get('zfs get -H -o property,value compression,acltype,xattr,atime rpool'), [
      ['compression', 'zstd'],
      ['acltype', 'posix'],
      ['xattr', 'sa'],
      ['atime', 'off'],
    ])
    const encryption = await get(
      'zfs get -H -r -t filesystem -o name,property,value encryption,keyformat,keylocation,encryptionroot rpool/crypt',
    )
    for (const dataset of [
      'rpool/crypt',
      'rpool/crypt/system',
      'rpool/crypt/system/nix',
      'rpool/crypt/system/var',
    ]) {
      const props = Object.fromEntries(
        encryption.filter(([name]) => name === dataset).map(([, p, v]) => [p, v]),
      )
      t.equal(props.encryption, 'aes-256-gcm', `${dataset} is encrypted`)
      t.equal(props.encryptionroot, 'rpool/crypt', `${dataset} is under the key of rpool/crypt`)
    }
    t.same(
      encryption
        .filter(
          ([name, p]) => name === 'rpool/crypt' && p !== 'encryption' && p !== 'encryptionroot',
        )
        .map(([, p, v]) => [p, v]),
      [
        ['keyformat', 'raw'],
        ['keylocation', 'file:///etc/credstore/zfs-sysroot.mount'],
      ],
    )
    t.same(
      await get('zfs get -H -o value encryption rpool/credstore'),
      [['off']],
      'the credstore zvol is LUKS, not ZFS, encrypted',
    )
    t.same(
      await get("findmnt -rn -o TARGET,SOURCE,FSTYPE | grep ^/mnt | sort | tr ' ' '\\t'"),
      [
        ['/mnt', 'rpool/crypt/system', 'zfs'],
        ['/mnt/boot', '/dev/vdb1', 'vfat'],
        ['/mnt/nix', 'rpool/crypt/system/nix', 'zfs'],
        ['/mnt/var', 'rpool/crypt/system/var', 'zfs'],
      ],
      'mounted under /mnt as the install phase expects',
    )

    // The credstore: LUKS2, closed again after the pool was made, opened by the passphrase only.
    const dump = await machine.sh('cryptsetup luksDump /dev/zvol/rpool/credstore')
    t.match(dump, /^Version:\s+2$/m)
    t.equal(
      (
        await machine.sh('cryptsetup status credstore >/dev/null 2>&1 && echo open || echo closed')
      ).trim(),
      'closed',
    )
    t.equal(
      (await machine.sh('test ! -e /etc/credstore/zfs-sysroot.mount && echo gone')).trim(),
      'gone',
      'the key file left with the credstore',
    )
    await t.rejects(
      machine.sh(
        'cryptsetup open --test-passphrase --key-file - /dev/zvol/rpool/credstore',
        'not-the-passphrase',
      ),
      'another passphrase does not open it',
    )

    // The pool imported again from nothing, and unlocked the way the initrd does: the ZFS key read
    // from the credstore, which is closed afterwards.
    await machine.sh(
      'umount -R /mnt && zpool export rpool && zpool import -N -d /dev/disk/by-id rpool',
    )
    t.same(
      await get('zfs get -H -o value keystatus rpool/crypt'),
      [['unavailable']],
      'locked after the import',
    )
    await machine.sh(
      [
        'cryptsetup open --key-file /run/keystone/credstore-passphrase /dev/zvol/rpool/credstore credstore',
        'mount -o ro,X-mount.mkdir /dev/mapper/credstore /etc/credstore',
        'test "$(stat -c %a /etc/credstore/zfs-sysroot.mount)" = 400',
        'cmp /etc/credstore/zfs-sysroot.mount /run/keystone/zfs-raw-key',
        'zfs load-key -L file:///etc/credstore/zfs-sysroot.mount rpool/crypt',
        'umount /etc/credstore && cryptsetup close credstore',
      ].join(' && '),
    )
    t.same(
      await get('zfs get -H -o value keystatus rpool/crypt'),
      [['available']],
      'the credstore’s key opens the pool',
    )
    await machine.sh(
      'mount -t zfs -o zfsutil rpool/crypt/system /mnt && test -d /mnt && umount /mnt',
    )

    // Random-encrypted swap, set up as NixOS's swapDevices.*.randomEncryption does at each boot:
    // a plain dm-crypt mapping keyed from /dev/urandom, formatted as swap.
    await machine.sh(
      'cryptsetup open --type plain --cipher aes-xts-plain64 --key-size 512 --key-file /dev/urandom /dev/disk/by-partlabel/disk-disk0-swap swap0 && mkswap -q /dev/mapper/swap0 && swapon /dev/mapper/swap0',
    )
    t.match(
      await machine.sh('lsblk -rn -o NAME,TYPE,FSTYPE /dev/disk/by-partlabel/disk-disk0-swap'),
      /^swap0 crypt swap$/m,
    )
    t.match(await machine.sh('swapon --show=NAME --noheadings'), /\/dev\/dm-\d+/)
  },
)
