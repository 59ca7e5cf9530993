import t from 'tap'
import { guestCpus } from '../../cli/rehearsal/machine.js'
import { DEBIAN_OVMF, planMachine, type MachineSpec } from '../../cli/rehearsal/plan-machine.js'

// The rehearsal machine as data: the firmware, the TPM, the disks and the network a test or
// `keystone rehearse up` gets, without starting anything.
const spec: MachineSpec = {
  dir: '/tmp/ks-rh-x/machine',
  image: {
    dir: '/cache/img',
    kernel: '/cache/img/vmlinuz',
    initrd: '/cache/img/initrd.img',
    root: '/cache/img/root.img',
    manifest: { kernel: '6.1.0', zfs: '2.1.11', systemd: '252', sshHostKey: 'ssh-ed25519 AAAA' },
  },
  disks: [
    { serial: 'KS0001', size: '16G' },
    { serial: 'KS0002', size: '16G' },
  ],
  sshPort: 2222,
  memoryMiB: 3072,
  cpus: 2,
  accel: 'tcg',
  boot: 'installer',
  firmware: DEBIAN_OVMF,
}
const pairs = (args: string[]): [string, string][] =>
  args.flatMap((arg, i) => (arg.startsWith('-') ? [[arg, args[i + 1] ?? '']] : []))

t.test('OVMF Secure Boot code read-only, its own variable store, SMM on', async (t) => {
  const args = planMachine(spec).qemu.args
  t.same(
    pairs(args)
      .filter(([flag]) => flag === '-drive')
      .map(([, v]) => v)
      .slice(0, 2),
    [
      'if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd',
      'if=pflash,format=raw,unit=1,file=/tmp/ks-rh-x/machine/OVMF_VARS.fd',
    ],
  )
  t.ok(args.includes('q35,smm=on') && args.includes('driver=cfi.pflash01,property=secure,value=on'))
  t.ok(args.includes('tcg,thread=multi'), 'TCG when KVM cannot run')
  t.same(
    planMachine({ ...spec, accel: 'kvm' }).qemu.args.filter((a) => a === 'kvm' || a === 'host'),
    ['kvm', 'host'],
  )
})

t.test(
  'swtpm on the machine’s own socket, attached as tpm-tis; both daemons write PID files',
  async (t) => {
    const plan = planMachine(spec)
    t.same(plan.swtpm.args, [
      'socket',
      '--tpm2',
      '--tpmstate',
      'dir=/tmp/ks-rh-x/machine/tpm',
      '--ctrl',
      'type=unixio,path=/tmp/ks-rh-x/machine/swtpm.sock',
      '--pid',
      'file=/tmp/ks-rh-x/machine/swtpm.pid',
      '--daemon',
    ])
    t.ok(plan.qemu.args.includes('socket,id=chrtpm,path=/tmp/ks-rh-x/machine/swtpm.sock'))
    t.ok(plan.qemu.args.includes('tpm-tis,tpmdev=tpm0'))
    t.same(
      plan.qemu.args.slice(
        plan.qemu.args.indexOf('-pidfile'),
        plan.qemu.args.indexOf('-pidfile') + 3,
      ),
      ['-pidfile', '/tmp/ks-rh-x/machine/qemu.pid', '-daemonize'],
    )
  },
)

t.test(
  'virtio disks carry their serials; the image is behind an overlay; sshd only on loopback',
  async (t) => {
    const plan = planMachine(spec)
    const devices = pairs(plan.qemu.args)
      .filter(([flag]) => flag === '-device')
      .map(([, v]) => v)
    t.same(
      devices.filter((d) => d.startsWith('virtio-blk')),
      [
        'virtio-blk-pci,drive=os,serial=rehearsal-os',
        'virtio-blk-pci,drive=disk0,serial=KS0001',
        'virtio-blk-pci,drive=disk1,serial=KS0002',
      ],
    )
    t.same(
      plan.create.map((c) => c.command.args),
      [
        [
          'create',
          '-q',
          '-f',
          'qcow2',
          '-F',
          'raw',
          '-b',
          '/cache/img/root.img',
          '/tmp/ks-rh-x/machine/os.qcow2',
        ],
        ['create', '-q', '-f', 'qcow2', '/tmp/ks-rh-x/machine/disk-KS0001.qcow2', '16G'],
        ['create', '-q', '-f', 'qcow2', '/tmp/ks-rh-x/machine/disk-KS0002.qcow2', '16G'],
      ],
    )
    t.ok(plan.qemu.args.includes('user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22'))
  },
)

t.test(
  'installer boot loads the image’s kernel; disk boot leaves it to the firmware',
  async (t) => {
    t.ok(planMachine(spec).qemu.args.includes('/cache/img/vmlinuz'))
    t.notOk(planMachine({ ...spec, boot: 'disks' }).qemu.args.includes('-kernel'))
  },
)

t.test('vCPUs: up to four with KVM; under TCG one per two host cores, never none', async (t) => {
  t.same(
    [1, 2, 4, 8, 64].map((host) => guestCpus('kvm', host)),
    [1, 2, 4, 4, 4],
  )
  t.same(
    [1, 2, 3, 4, 8, 64].map((host) => guestCpus('tcg', host)),
    [1, 1, 1, 2, 4, 4],
  )
})
