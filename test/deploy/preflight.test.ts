import { copyFile, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { checkPreflight, needsKexec } from '../../cli/deploy/preflight.js'
import { runProbe } from '../../cli/deploy/preflight-target.js'
import type { Host } from '../../cli/host/host-schema.js'
import { loadFleet } from '../../cli/host/load-fleet.js'
import { loadHostFile } from '../../cli/host/load-host.js'
import { pinHostFacts } from '../../cli/host/pin-host-facts.js'
import { localShell } from '../helpers/local-shell.js'
import { repoRoot } from '../helpers/temp-fleet.js'

// The refusals, for the recorded machines (probed for real by sh) against the example hosts.
const tree = (name: string) => path.join(repoRoot, 'test/fixtures/hardware', name)
const probeOf = (root: string) => runProbe(localShell(), root)
const hosts = Object.fromEntries(
  (await loadFleet(repoRoot)).map((loaded) => [loaded.host.name, loaded.host]),
) as Record<string, Host>
const desk1 = hosts.desk1!
const storage1 = hosts.storage1!
// The login is the test's own; these tests are about the machine.
const asRoot = async (root: string) => ({ ...(await probeOf(root)), uid: 0, sudo: false })

const NVME = '/dev/disk/by-id/nvme-WD_BLACK_SN850X_2000GB_23123K800123'
const WD = (n: number) => `/dev/disk/by-id/ata-WDC_WD40EFRX-68N32N0_WD-WCC7K0XXXXX${n}`

async function scratch(t: { teardown(fn: () => Promise<void>): void }) {
  const dir = await mkdtemp(path.join(tmpdir(), 'keystone-preflight-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

t.test('the NVMe laptop is what desk1 describes: nothing to refuse; kexec needed', async (t) => {
  const probe = await asRoot(tree('uefi-tpm-nvme-laptop'))
  t.equal(needsKexec(probe), true)
  t.same(checkPreflight(desk1, probe), [])
})

t.test('the BIOS server is refused for desk1: firmware, TPM and the disk', async (t) => {
  t.same(checkPreflight(desk1, await asRoot(tree('bios-server-no-tpm'))), [
    'firmware: the machine boots in BIOS (legacy) mode, Keystone needs UEFI (systemd-boot or Lanzaboote on an EFI system partition); switch the firmware to UEFI boot (CSM off) and boot the machine again',
    'TPM: hosts/desk1.yaml has tpm.enable: true, the machine has no TPM; turn on the TPM 2.0 in the firmware, or set tpm.enable: false in hosts/desk1.yaml and use remote unlock (remoteUnlock.enable: true)',
    `disk ${NVME}: not on the machine, which has ata-Samsung_SSD_870_EVO_1TB_S6PUNX0T123456A, wwn-0x5002538f4123abcd; list one of these in storage.disks of hosts/desk1.yaml`,
  ])
})

t.test('the two-disk server in its installer is what storage1 describes; no kexec', async (t) => {
  const probe = await asRoot(tree('two-disk-server'))
  t.equal(needsKexec(probe), false)
  t.same(checkPreflight(storage1, probe), [])
  t.same(
    checkPreflight(storage1, { ...probe, memAvailableKib: 512 * 1024 }),
    [],
    'an installer needs no memory for kexec',
  )
})

t.test('a disk whose serial changed since deploy pinned it is refused by name', async (t) => {
  // What deploy does: pin the disks it found into storage1's host file, then load it back.
  const fleet = await scratch(t)
  await mkdir(path.join(fleet, 'hosts'))
  const file = path.join(fleet, 'hosts/storage1.yaml')
  await copyFile(path.join(repoRoot, 'hosts/storage1.yaml'), file)
  const installed = await asRoot(tree('two-disk-server'))
  await pinHostFacts(file, {
    disks: [1, 2].map((n) => {
      const disk = installed.disks.find((disk) => WD(n).endsWith(disk.id))!
      return { path: WD(n), sizeBytes: disk.sizeBytes, serial: disk.serial }
    }),
  })
  const loaded = await loadHostFile(file, 'hosts/storage1.yaml')
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems))
  const pinned = loaded.loaded.host
  t.same(pinned.storage.disks, [
    { path: WD(1), sizeBytes: 4000787030016, serial: 'WD-WCC7K0XXXXX1' },
    { path: WD(2), sizeBytes: 4000787030016, serial: 'WD-WCC7K0XXXXX2' },
  ])

  t.same(checkPreflight(pinned, installed), [], 'the same machine again')
  t.same(checkPreflight(pinned, await asRoot(tree('disk-serial-changed'))), [
    `disk ${WD(2)}: hosts/storage1.yaml pins serial WD-WCC7K0XXXXX2, the machine's has serial WD-WCC7K0YYYYY9; if the disk was replaced on purpose, write it as its path alone in hosts/storage1.yaml; otherwise the address reaches another machine`,
  ])

  const smaller: Host = {
    ...pinned,
    storage: {
      ...pinned.storage,
      disks: [{ path: WD(1), sizeBytes: 3000592982016, serial: null }, WD(2)],
    },
  }
  t.same(checkPreflight(smaller, installed), [
    `disk ${WD(1)}: hosts/storage1.yaml pins a size of 3.0 TB (3000592982016 bytes), the machine's is 4.0 TB (4000787030016 bytes); if the disk was replaced on purpose, write it as its path alone in hosts/storage1.yaml; otherwise the address reaches another machine`,
  ])
})

t.test('a disk the machine lacks is named with the disks it has', async (t) => {
  const third = '/dev/disk/by-id/ata-WDC_WD40EFRX-68N32N0_WD-WCC7K0XXXXX3'
  const host: Host = { ...storage1, storage: { ...storage1.storage, disks: [WD(1), third] } }
  t.same(checkPreflight(host, await asRoot(tree('two-disk-server'))), [
    `disk ${third}: not on the machine, which has ata-WDC_WD40EFRX-68N32N0_WD-WCC7K0XXXXX1, ata-WDC_WD40EFRX-68N32N0_WD-WCC7K0XXXXX2; list one of these in storage.disks of hosts/storage1.yaml`,
  ])
})

t.test('too little memory for the kexec installer', async (t) => {
  const probe = await asRoot(tree('uefi-tpm-nvme-laptop'))
  const small = { ...probe, memAvailableKib: 1024 * 1024 }
  t.same(checkPreflight(desk1, small), [
    'memory: the kexec installer needs 1.5 GiB available (swap excluded), the machine has 1.0 GiB; boot the machine from the Keystone installer ISO, which needs no kexec',
  ])
  t.same(checkPreflight(desk1, small, { kexec: false }), [], 'unless no kexec is needed')
  t.same(checkPreflight(desk1, { ...probe, memAvailableKib: 1.5 * 1024 * 1024 }), [])
})

t.test('a machine that says it is another Keystone host: the address is wrong', async (t) => {
  // The marker a Keystone host writes, read by the real probe from a copy of the laptop.
  const root = await scratch(t)
  await cp(tree('uefi-tpm-nvme-laptop'), root, { recursive: true, verbatimSymlinks: true })
  await mkdir(path.join(root, 'etc/keystone'))
  await writeFile(path.join(root, 'etc/keystone/host'), 'web1\n')
  const probe = await asRoot(root)
  t.same(checkPreflight(desk1, probe), [
    'identity: the machine at desk1.lan is Keystone host web1, not desk1; the address is wrong — check ssh.address in hosts/desk1.yaml',
  ])
  t.same(checkPreflight(desk1, { ...probe, keystoneHost: 'desk1' }), [], 'a redeploy of itself')
})

t.test('the wrong architecture, and a login without root or sudo', async (t) => {
  const probe = await asRoot(tree('uefi-tpm-nvme-laptop'))
  t.same(checkPreflight({ ...desk1, system: 'aarch64-linux' }, probe), [
    'architecture: hosts/desk1.yaml says system: aarch64-linux, the machine is x86_64; set system: x86_64-linux, or check ssh.address',
  ])
  t.match(checkPreflight(desk1, { ...probe, arch: 'riscv64' }), [
    /^architecture: .* the machine is riscv64; Keystone installs x86_64 and aarch64 machines only$/,
  ])
  const admin: Host = { ...desk1, ssh: { ...desk1.ssh, user: 'bob' } }
  t.same(checkPreflight(admin, { ...probe, uid: 1000, sudo: false }), [
    'login: bob (uid 1000) is not root and has no passwordless sudo; set ssh.user: root in hosts/desk1.yaml, or allow bob passwordless sudo on the machine',
  ])
  t.same(checkPreflight(admin, { ...probe, uid: 1000, sudo: true }), [])
})
