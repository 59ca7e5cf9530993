import t from 'tap'
import type { Host } from '../../cli/host/host-schema.js'
import { loadFleet } from '../../cli/host/load-fleet.js'
import { renderDisko } from '../../cli/nix/render-disko.js'
import { planLayout } from '../../cli/rehearsal/layout-script.js'
import { repoRoot } from '../helpers/temp-fleet.js'

// The layout commands as data (STYLE.md §4), for the example hosts: what the rehearsal machine
// runs where disko's own script cannot.
const hosts = Object.fromEntries(
  (await loadFleet(repoRoot)).map((l) => [l.host.name, l.host]),
) as Record<string, Host>
const WD = (n: number) => `/dev/disk/by-id/ata-WDC_WD40EFRX-68N32N0_WD-WCC7K0XXXXX${n}`

t.test(
  'storage1: partitions in priority order, a mirror, the credstore before the encrypted datasets',
  async (t) => {
    const { create, mount } = planLayout(renderDisko(hosts.storage1!))
    t.same(create.slice(0, 4), [
      `sgdisk --align-end --new=1:0:+1G --change-name=1:disk-disk0-esp --typecode=1:EF00 ${WD(1)}`,
      `sgdisk --align-end --new=2:0:-0 --change-name=2:disk-disk0-zfs --typecode=2:8300 ${WD(1)}`,
      'udevadm trigger --subsystem-match=block && udevadm settle',
      'mkfs.vfat /dev/disk/by-partlabel/disk-disk0-esp',
    ])
    t.ok(
      create.includes(
        `sgdisk --align-end --new=2:0:-4G --change-name=2:disk-disk1-zfs --typecode=2:8300 ${WD(2)}`,
      ),
      'swap size counted from the end',
    )
    t.ok(create.includes('mkswap /dev/disk/by-partlabel/disk-disk1-swap'))
    const pool = create.findIndex((line) => line.startsWith('zpool create'))
    t.equal(
      create[pool],
      'zpool create -f -R /mnt -o ashift=12 -o autotrim=on -O mountpoint=none -O compression=zstd -O acltype=posixacl -O xattr=sa -O atime=off -O com.sun:auto-snapshot=false rpool mirror /dev/disk/by-partlabel/disk-disk0-zfs /dev/disk/by-partlabel/disk-disk1-zfs',
    )
    const at = (prefix: string) => create.findIndex((line) => line.startsWith(prefix))
    const order = [
      at('zfs create -V 100M rpool/credstore'),
      at('cryptsetup -q luksFormat --type luks2 /dev/zvol/rpool/credstore'),
      at('cryptsetup open /dev/zvol/rpool/credstore credstore --allow-discards'),
      at('mkfs.ext4 /dev/mapper/credstore'),
      at('mountpoint -q /etc/credstore || mount'),
      at(
        'if ! zfs get type rpool/crypt >/dev/null 2>&1; then zfs create -up rpool/crypt -o mountpoint=none -o encryption=aes-256-gcm -o keyformat=raw -o keylocation=file:///etc/credstore/zfs-sysroot.mount; fi',
      ),
      at('if mountpoint -q /etc/credstore; then umount /etc/credstore; fi'),
      at('if ! zfs get type rpool/crypt/system >/dev/null'),
    ]
    t.ok(
      order.every((index, i) => index > pool && (i === 0 || index > order[i - 1]!)),
      `in order: ${order.join(', ')}`,
    )
    t.same(mount, [
      'mount -t zfs -o X-mount.mkdir -o defaults -o zfsutil rpool/crypt/system /mnt',
      'mount -t vfat -o X-mount.mkdir -o umask=0077 /dev/disk/by-partlabel/disk-disk0-esp /mnt/boot',
      'mount -t vfat -o X-mount.mkdir -o umask=0077 /dev/disk/by-partlabel/disk-disk1-esp /mnt/boot1',
      'mount -t zfs -o X-mount.mkdir -o defaults -o zfsutil rpool/crypt/system/nix /mnt/nix',
      'mount -t zfs -o X-mount.mkdir -o defaults -o zfsutil rpool/crypt/backups /mnt/srv/backups',
      'mount -t zfs -o X-mount.mkdir -o defaults -o zfsutil rpool/crypt/system/var /mnt/var',
    ])
  },
)

t.test(
  'web1: a single disk, no vdev keyword; the extra dataset keeps its recordsize',
  async (t) => {
    const { create } = planLayout(renderDisko(hosts.web1!))
    t.ok(
      create.some((line) => / rpool \/dev\/disk\/by-partlabel\/disk-disk0-zfs$/.test(line)),
      'a single-disk pool',
    )
    t.ok(
      create.includes(
        'if ! zfs get type rpool/crypt/data >/dev/null 2>&1; then zfs create -up rpool/crypt/data -o recordsize=1M -o mountpoint=/srv/data; fi',
      ),
    )
  },
)

t.test('a key file name with a quote stays one word of the shell', async (t) => {
  const disko = renderDisko(hosts.web1!) as {
    disko: {
      devices: {
        zpool: { rpool: { datasets: { credstore: { content: { passwordFile: string } } } } }
      }
    }
  }
  disko.disko.devices.zpool.rpool.datasets.credstore.content.passwordFile = "/run/it's here"
  const { create } = planLayout(disko as never)
  t.ok(create.some((line) => line.includes(`"$(cat '/run/it'\\''s here')"`)))
})
