import path from 'node:path'
import type { RehearsalImage } from './rehearsal-image.js'

// The rehearsal machine as data (STYLE.md §4): QEMU with OVMF's Secure Boot firmware whose
// variables start in setup mode, swtpm as its TPM 2.0 (tpm-tis), virtio disks with serial numbers
// (so they appear as /dev/disk/by-id/virtio-<serial>, as a real machine's disks do by model and
// serial), and the guest's sshd forwarded to a loopback port. machine.ts runs this plan.

export interface RehearsalDisk {
  // virtio-blk takes at most 20 bytes (the VIRTIO_BLK_ID_BYTES of the virtio spec).
  serial: string
  // qemu-img's size: `16G`. The disk is sparse: it costs what the guest writes.
  size: string
}

export interface Firmware {
  // Read-only code, and the variable store that each machine copies once and keeps.
  code: string
  varsTemplate: string
}

export interface MachineSpec {
  // The machine's own directory: disks, firmware variables, TPM state, sockets and the console log.
  dir: string
  image: RehearsalImage
  disks: RehearsalDisk[]
  sshPort: number
  memoryMiB: number
  cpus: number
  accel: 'kvm' | 'tcg'
  // `installer`: the image's kernel, loaded by the firmware from QEMU (as nixos-anywhere boots its
  // installer by kexec). `disks`: the firmware boots what was installed on the disks.
  boot: 'installer' | 'disks'
  firmware: Firmware
}

export interface Command {
  file: string
  args: string[]
}

export interface MachinePlan {
  // Made once per machine and kept across its boots; a file that exists is not made again.
  create: { path: string; command: Command }[]
  swtpm: Command
  qemu: Command
  files: MachineFiles
}

export interface MachineFiles {
  os: string
  vars: string
  tpmState: string
  tpmSocket: string
  console: string
  consoleSocket: string
  qmpSocket: string
  qemuPid: string
  swtpmPid: string
  authorizedKeys: string
  disk: (serial: string) => string
}

// Debian's ovmf package: the 4 MiB Secure Boot build (it needs SMM) and an empty variable store,
// which is setup mode: no platform key, so keys can be enrolled without a signature.
export const DEBIAN_OVMF: Firmware = {
  code: '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd',
  varsTemplate: '/usr/share/OVMF/OVMF_VARS_4M.fd',
}

export const OS_DISK_SERIAL = 'rehearsal-os'

export function machineFiles(dir: string): MachineFiles {
  const at = (name: string) => path.join(dir, name)
  return {
    os: at('os.qcow2'),
    vars: at('OVMF_VARS.fd'),
    tpmState: at('tpm'),
    tpmSocket: at('swtpm.sock'),
    console: at('console.log'),
    consoleSocket: at('console.sock'),
    qmpSocket: at('qmp.sock'),
    qemuPid: at('qemu.pid'),
    swtpmPid: at('swtpm.pid'),
    authorizedKeys: at('authorized_keys'),
    disk: (serial) => at(`disk-${serial}.qcow2`),
  }
}

export function planMachine(spec: MachineSpec): MachinePlan {
  const files = machineFiles(spec.dir)
  const create = [
    {
      path: files.os,
      // A copy-on-write overlay: the cached image is never written.
      command: {
        file: 'qemu-img',
        args: ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', spec.image.root, files.os],
      },
    },
    ...spec.disks.map((disk) => ({
      path: files.disk(disk.serial),
      command: {
        file: 'qemu-img',
        args: ['create', '-q', '-f', 'qcow2', files.disk(disk.serial), disk.size],
      },
    })),
  ]

  // swtpm(8): the control channel is the socket QEMU's tpm-emulator connects to; the state
  // directory keeps the TPM's seeds and NV across the machine's power cycles.
  const swtpm: Command = {
    file: 'swtpm',
    args: [
      'socket',
      '--tpm2',
      '--tpmstate',
      `dir=${files.tpmState}`,
      '--ctrl',
      `type=unixio,path=${files.tpmSocket}`,
      '--pid',
      `file=${files.swtpmPid}`,
      '--daemon',
    ],
  }

  const drive = (id: string, file: string, serial: string) => [
    '-drive',
    // cache=unsafe: the host keeps the guest's writes in its page cache; a rehearsal machine's
    // disks need not survive a crash of the host.
    `file=${file},if=none,id=${id},format=qcow2,cache=unsafe,discard=unmap`,
    '-device',
    `virtio-blk-pci,drive=${id},serial=${serial}`,
  ]
  const installer =
    spec.boot === 'installer'
      ? [
          '-kernel',
          spec.image.kernel,
          '-initrd',
          spec.image.initrd,
          '-append',
          'root=LABEL=rehearsal-root rw console=ttyS0,115200 loglevel=4 systemd.show_status=1',
        ]
      : []
  const qemu: Command = {
    file: 'qemu-system-x86_64',
    args: [
      '-name',
      'keystone-rehearsal',
      // Only the devices below: no emulated CD drive or graphics card.
      '-nodefaults',
      // OVMF's Secure Boot build needs SMM, and its variable store is then writable only from SMM.
      '-machine',
      'q35,smm=on',
      '-accel',
      spec.accel === 'tcg' ? 'tcg,thread=multi' : 'kvm',
      '-cpu',
      spec.accel === 'kvm' ? 'host' : 'max',
      '-smp',
      String(spec.cpus),
      '-m',
      String(spec.memoryMiB),
      '-global',
      'driver=cfi.pflash01,property=secure,value=on',
      '-drive',
      `if=pflash,format=raw,unit=0,readonly=on,file=${spec.firmware.code}`,
      '-drive',
      `if=pflash,format=raw,unit=1,file=${files.vars}`,
      '-chardev',
      `socket,id=chrtpm,path=${files.tpmSocket}`,
      '-tpmdev',
      'emulator,id=tpm0,chardev=chrtpm',
      '-device',
      'tpm-tis,tpmdev=tpm0',
      ...drive('os', files.os, OS_DISK_SERIAL),
      ...spec.disks.flatMap((disk, index) =>
        drive(`disk${index}`, files.disk(disk.serial), disk.serial),
      ),
      '-netdev',
      `user,id=net0,hostfwd=tcp:127.0.0.1:${spec.sshPort}-:22`,
      // No option ROM: the firmware would try a network boot before the disks.
      '-device',
      'virtio-net-pci,netdev=net0,romfile=',
      '-fw_cfg',
      `name=opt/keystone/authorized_keys,file=${files.authorizedKeys}`,
      '-chardev',
      `socket,id=console,path=${files.consoleSocket},server=on,wait=off,logfile=${files.console},logappend=on`,
      '-serial',
      'chardev:console',
      '-qmp',
      `unix:${files.qmpSocket},server=on,wait=off`,
      '-display',
      'none',
      '-pidfile',
      files.qemuPid,
      '-daemonize',
      ...installer,
    ],
  }
  return { create, swtpm, qemu, files }
}
