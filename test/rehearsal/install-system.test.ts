import t from 'tap'
import { planInstall, SIGNED_BINARIES } from '../../cli/rehearsal/install-system.js'
import type { BootFacts } from '../../cli/rehearsal/initrd-overlay.js'

// The rehearsal's install as data: what runs in the machine, in which order. The boot chain test
// (boot-chain.test.ts) boots what these steps install.
const facts: BootFacts = {
  pool: 'rpool',
  disks: ['/dev/disk/by-id/virtio-ks0'],
  devNodes: '/dev/disk/by-id',
  datasets: [{ dataset: 'rpool/crypt/system', mountpoint: '/' }],
  tpm: true,
  allowDiscards: false,
}
const overlay = new Uint8Array([1, 2, 3])
const commands = (plan: ReturnType<typeof planInstall>) => plan.steps.map((step) => step.command)

t.test(
  'the dracut initrd is padded to 4 bytes, so that the kernel reads the overlay after it',
  async (t) => {
    const copy = commands(planInstall(facts, overlay)).find((c) => c.includes('initrd-dracut.img'))
    t.match(
      copy,
      /cp \/boot\/initrd-dracut\.img \/mnt\/boot\/keystone\/initrd\.img && truncate -s %4 \/mnt\/boot\/keystone\/initrd\.img$/,
    )
    const entry = planInstall(facts, overlay).files.find(
      (f) => f.path.endsWith('.conf') && f.path.includes('entries'),
    )
    t.match(
      String(entry?.data),
      /initrd \/keystone\/initrd\.img\ninitrd \/keystone\/keystone-units\.img\n/,
      'the overlay comes last',
    )
  },
)

t.test('extra files are unpacked over the copied system, before the boot loader', async (t) => {
  const tree = new Uint8Array([9, 9])
  const plan = planInstall(facts, overlay, { extraFiles: tree })
  const at = plan.steps.findIndex((step) => step.stdin === tree)
  t.match(plan.steps[at]?.command, /^tar -C \/mnt --no-same-owner --no-overwrite-dir -xpf -$/)
  t.ok(at > commands(plan).findIndex((c) => c.startsWith('tar -C / ')), 'after the system copy')
  t.ok(at < commands(plan).findIndex((c) => c.startsWith('bootctl')), 'before bootctl install')
  t.notOk(
    commands(planInstall(facts, overlay)).some((c) => c.includes('--no-same-owner')),
    'and only when given',
  )
})

t.test(
  'with a db key, every EFI binary the firmware checks is signed after it is in place',
  async (t) => {
    const plan = planInstall(facts, overlay, {
      signWith: { key: '/var/lib/sbctl/keys/db/db.key', cert: '/var/lib/sbctl/keys/db/db.pem' },
    })
    const list = commands(plan)
    const copied = list.findIndex((c) => c.includes('initrd-dracut.img'))
    for (const binary of SIGNED_BINARIES) {
      const at = list.findIndex((c) => c.startsWith('sbsign') && c.includes(`/mnt/boot/${binary} `))
      t.ok(at > copied, `${binary} is signed after bootctl and the copy`)
      t.match(
        list[at],
        `--key /mnt/var/lib/sbctl/keys/db/db.key --cert /mnt/var/lib/sbctl/keys/db/db.pem`,
      )
      t.match(list[at], `&& mv /mnt/boot/${binary}.signed /mnt/boot/${binary}`)
    }
    t.notOk(
      commands(planInstall(facts, overlay)).some((c) => c.startsWith('sbsign')),
      'unsigned without a key',
    )
  },
)
