import { execFileSync } from 'node:child_process'
import path from 'node:path'
import t from 'tap'
import { runProbe } from '../../cli/deploy/preflight-target.js'
import { checkPreflight, needsKexec } from '../../cli/deploy/preflight.js'
import { describeProbe, parseProbe } from '../../cli/deploy/probe.js'
import { PROBE_SCRIPT } from '../../cli/deploy/probe-script.js'
import { loadFleet } from '../../cli/host/load-fleet.js'
import type { Host } from '../../cli/host/host-schema.js'
import { localShell } from '../helpers/local-shell.js'
import { needs } from '../helpers/needs.js'
import { repoRoot } from '../helpers/temp-fleet.js'

// The real probe script, run by sh over recorded hardware trees (the only fake: the machine).
const tree = (name: string) => path.join(repoRoot, 'test/fixtures/hardware', name)
const probeOf = (name: string) => runProbe(localShell(), tree(name))
const hosts = async () =>
  Object.fromEntries((await loadFleet(repoRoot)).map((loaded) => [loaded.host.name, loaded.host]))
const uid = process.getuid?.() ?? 0

t.test(
  'the probe script is POSIX sh that shellcheck accepts',
  { skip: needs('shellcheck') },
  async (t) => {
    t.doesNotThrow(() => execFileSync('shellcheck', ['-s', 'sh', '-'], { input: PROBE_SCRIPT }))
  },
)

t.test('a UEFI laptop with TPM and one NVMe disk', async (t) => {
  const probe = await probeOf('uefi-tpm-nvme-laptop')
  t.same(probe, {
    arch: 'x86_64',
    memTotalKib: 16307420,
    memAvailableKib: 14901236,
    firmware: 'uefi',
    secureBoot: 'disabled',
    setupMode: 'yes',
    tpm: '2',
    osId: 'ubuntu',
    osVariantId: '',
    installer: false,
    keystoneHost: '',
    uid,
    sudo: probe.sudo,
    disks: [
      {
        id: 'nvme-WD_BLACK_SN850X_2000GB_23123K800123',
        kname: 'nvme0n1',
        sizeBytes: 2000398934016,
        model: 'WD_BLACK SN850X 2000GB',
        serial: '23123K800123',
      },
      {
        id: 'nvme-eui.e8238fa6bf530001001b448b4a2b7c1d',
        kname: 'nvme0n1',
        sizeBytes: 2000398934016,
        model: 'WD_BLACK SN850X 2000GB',
        serial: '23123K800123',
      },
    ],
  })
  t.ok(needsKexec(probe))
  t.same(
    checkPreflight((await hosts()).desk1!, probe, { kexec: true }),
    [],
    'desk1 may be deployed here',
  )
  t.match(
    describeProbe(probe).join('\n'),
    /UEFI, Secure Boot disabled, in setup mode[\s\S]*TPM 2\.0[\s\S]*2\.0 TB, WD_BLACK SN850X 2000GB, serial 23123K800123/,
  )
})

t.test(
  'a BIOS server without TPM: the SATA serial comes from udev; desk1 is refused three ways',
  async (t) => {
    const probe = await probeOf('bios-server-no-tpm')
    t.same(probe.disks, [
      {
        id: 'ata-Samsung_SSD_870_EVO_1TB_S6PUNX0T123456A',
        kname: 'sda',
        sizeBytes: 1000204886016,
        model: 'Samsung SSD 870',
        serial: 'S6PUNX0T123456A',
      },
      {
        id: 'wwn-0x5002538f4123abcd',
        kname: 'sda',
        sizeBytes: 1000204886016,
        model: 'Samsung SSD 870',
        serial: 'S6PUNX0T123456A',
      },
    ])
    t.equal(probe.firmware, 'bios')
    t.equal(probe.tpm, 'none')
    const refusals = checkPreflight((await hosts()).desk1!, probe, { kexec: true })
    t.equal(refusals.length, 3)
    t.match(
      refusals[0],
      /^firmware: the machine boots in BIOS \(legacy\) mode, Keystone needs UEFI/,
    )
    t.match(
      refusals[1],
      /^TPM: hosts\/desk1\.yaml wants TPM unlock, the machine has no TPM; .*tpm\.enable: false/,
    )
    t.match(
      refusals[2],
      /^disk \/dev\/disk\/by-id\/nvme-WD_BLACK_SN850X_2000GB_23123K800123 is not on the machine; it has: ata-Samsung_SSD_870_EVO_1TB_S6PUNX0T123456A, wwn-0x5002538f4123abcd$/,
    )
  },
)

t.test('a two-disk server already in the installer matches storage1; no kexec', async (t) => {
  const probe = await probeOf('two-disk-server')
  t.equal(probe.installer, true)
  t.notOk(needsKexec(probe))
  t.same(
    probe.disks.map((disk) => [disk.id, disk.sizeBytes, disk.serial]),
    [
      ['ata-WDC_WD40EFRX-68N32N0_WD-WCC7K0XXXXX1', 4000787030016, 'WD-WCC7K0XXXXX1'],
      ['ata-WDC_WD40EFRX-68N32N0_WD-WCC7K0XXXXX2', 4000787030016, 'WD-WCC7K0XXXXX2'],
    ],
  )
  t.same(checkPreflight((await hosts()).storage1!, probe, { kexec: false }), [])
})

t.test(
  'a disk whose serial changed since it was pinned is refused, naming both serials',
  async (t) => {
    const storage1 = (await hosts()).storage1!
    const pinned: Host = {
      ...storage1,
      storage: {
        ...storage1.storage,
        pinnedDisks: storage1.storage.disks.map((diskPath, i) => ({
          path: diskPath,
          sizeBytes: 4000787030016,
          serial: `WD-WCC7K0XXXXX${i + 1}`,
        })),
      },
    }
    t.same(checkPreflight(pinned, await probeOf('two-disk-server'), { kexec: false }), [])
    t.same(checkPreflight(pinned, await probeOf('disk-serial-changed'), { kexec: false }), [
      "disk /dev/disk/by-id/ata-WDC_WD40EFRX-68N32N0_WD-WCC7K0XXXXX2: hosts/storage1.yaml pins serial WD-WCC7K0XXXXX2, the machine's disk has serial WD-WCC7K0YYYYY9; if the disk was replaced on purpose, remove its entry from storage.pinnedDisks",
    ])
    const smaller: Host = {
      ...pinned,
      storage: {
        ...pinned.storage,
        pinnedDisks: [{ ...pinned.storage.pinnedDisks[0]!, sizeBytes: 3000592982016 }],
      },
    }
    t.match(
      checkPreflight(smaller, await probeOf('two-disk-server'), { kexec: false })[0],
      /pins 3\.0 TB \(3000592982016 bytes\), the machine's is 4\.0 TB/,
    )
  },
)

t.test(
  'too little memory for kexec, the wrong Keystone host, the wrong architecture, no root',
  async (t) => {
    const desk1 = (await hosts()).desk1!
    const probe = await probeOf('uefi-tpm-nvme-laptop')
    const refusals = checkPreflight(
      { ...desk1, system: 'aarch64-linux' },
      { ...probe, memAvailableKib: 1024 * 1024, keystoneHost: 'web1', uid: 1000, sudo: false },
      { kexec: true },
    )
    t.match(
      refusals.join('\n'),
      /^architecture: hosts\/desk1\.yaml says aarch64-linux, the machine is x86_64/m,
    )
    t.match(
      refusals.join('\n'),
      /^memory: the kexec installer needs 1\.5 GiB available, the machine has 1\.0 GiB/m,
    )
    t.match(
      refusals.join('\n'),
      /^identity: the machine at desk1\.lan is Keystone host web1, not desk1/m,
    )
    t.match(refusals.join('\n'), /^login: root is neither root nor allowed passwordless sudo/m)
    t.equal(
      checkPreflight(desk1, { ...probe, memAvailableKib: 1024 }, { kexec: false }).length,
      0,
      'an installer needs no kexec memory',
    )
  },
)

t.test('probe output Keystone cannot read is one clear error', async (t) => {
  t.throws(() => parseProbe('Welcome to web1!\narch=x86_64\n', 'root@web1'), {
    message: 'the probe on root@web1 returned output Keystone cannot read: `Welcome to web1!`',
  })
  t.throws(() => parseProbe(''), { message: /returned no facts/ })
})
