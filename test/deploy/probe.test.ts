import { execFileSync, spawnSync } from 'node:child_process'
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { runProbe } from '../../cli/deploy/preflight-target.js'
import { describeProbe, parseProbe, type Probe } from '../../cli/deploy/probe.js'
import { PROBE_SCRIPT } from '../../cli/deploy/probe-script.js'
import { localShell } from '../helpers/local-shell.js'
import { needs } from '../helpers/needs.js'
import { repoRoot } from '../helpers/temp-fleet.js'

// The real probe script, run by sh over recorded hardware trees: the machine is the only fake.
const tree = (name: string) => path.join(repoRoot, 'test/fixtures/hardware', name)
const probeOf = (root: string) => runProbe(localShell(), root)

// The login is read from the real machine, never from the tree: what this test runs as.
const uid = process.getuid?.() ?? 0
const sudo = uid !== 0 && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0
const login = { uid, sudo }

// A copy of a recorded tree, changed by `edit`, for the facts no recording has.
async function treeCopy(
  t: { teardown(fn: () => Promise<void>): void },
  name: string,
  edit: (root: string) => Promise<void>,
) {
  const root = await mkdtemp(path.join(tmpdir(), `keystone-probe-${name}-`))
  t.teardown(() => rm(root, { recursive: true, force: true }))
  await cp(tree(name), root, { recursive: true, verbatimSymlinks: true })
  await edit(root)
  return root
}

t.test(
  'the probe script is POSIX sh that shellcheck accepts',
  { skip: needs('shellcheck') },
  async (t) => {
    t.doesNotThrow(() =>
      execFileSync('shellcheck', ['--shell=sh', '--severity=style', '-'], {
        input: PROBE_SCRIPT,
      }),
    )
  },
)

t.test('a UEFI laptop in setup mode with a TPM 2.0 and one NVMe disk', async (t) => {
  const nvme = {
    kname: 'nvme0n1',
    sizeBytes: 2000398934016,
    model: 'WD_BLACK SN850X 2000GB',
    serial: '23123K800123',
  }
  t.same(await probeOf(tree('uefi-tpm-nvme-laptop')), {
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
    ...login,
    // The -part1 link is skipped; the eui. alias is the same disk under another name.
    disks: [
      { id: 'nvme-WD_BLACK_SN850X_2000GB_23123K800123', ...nvme },
      { id: 'nvme-eui.e8238fa6bf530001001b448b4a2b7c1d', ...nvme },
    ],
  } satisfies Probe)
})

t.test('a BIOS server without TPM: the SATA serial comes from udev’s database', async (t) => {
  const ssd = {
    kname: 'sda',
    sizeBytes: 1000204886016,
    model: 'Samsung SSD 870',
    serial: 'S6PUNX0T123456A',
  }
  t.same(await probeOf(tree('bios-server-no-tpm')), {
    arch: 'x86_64',
    memTotalKib: 8144320,
    memAvailableKib: 7340032,
    firmware: 'bios',
    secureBoot: 'unknown',
    setupMode: 'unknown',
    tpm: 'none',
    osId: 'debian',
    osVariantId: '',
    installer: false,
    keystoneHost: '',
    ...login,
    // Partitions, the LVM physical volume and the device-mapper volume are not disks.
    disks: [
      { id: 'ata-Samsung_SSD_870_EVO_1TB_S6PUNX0T123456A', ...ssd },
      { id: 'wwn-0x5002538f4123abcd', ...ssd },
    ],
  } satisfies Probe)
})

t.test('a two-disk server already running the NixOS installer', async (t) => {
  const wd = { sizeBytes: 4000787030016, model: 'WDC WD40EFRX-68N' }
  const expected: Probe = {
    arch: 'x86_64',
    memTotalKib: 32765852,
    memAvailableKib: 31457280,
    firmware: 'uefi',
    secureBoot: 'disabled',
    setupMode: 'no',
    tpm: 'none',
    osId: 'nixos',
    osVariantId: 'installer',
    installer: true,
    keystoneHost: '',
    ...login,
    disks: [
      {
        id: 'ata-WDC_WD40EFRX-68N32N0_WD-WCC7K0XXXXX1',
        kname: 'sda',
        ...wd,
        serial: 'WD-WCC7K0XXXXX1',
      },
      {
        id: 'ata-WDC_WD40EFRX-68N32N0_WD-WCC7K0XXXXX2',
        kname: 'sdb',
        ...wd,
        serial: 'WD-WCC7K0XXXXX2',
      },
    ],
  }
  t.same(await probeOf(tree('two-disk-server')), expected)
  const changed = structuredClone(expected)
  changed.disks[1]!.serial = 'WD-WCC7K0YYYYY9'
  t.same(await probeOf(tree('disk-serial-changed')), changed, 'the same, but another serial')
})

t.test('a Keystone host names itself; values cannot break the line format', async (t) => {
  const root = await treeCopy(t, 'uefi-tpm-nvme-laptop', async (root) => {
    await mkdir(path.join(root, 'etc/keystone'))
    await writeFile(path.join(root, 'etc/keystone/host'), 'web1\n')
    await writeFile(
      path.join(root, 'sys/class/block/nvme0n1/device/model'),
      'WD_BLACK\tSN850X\r\n2000GB  \n',
    )
  })
  const probe = await probeOf(root)
  t.equal(probe.keystoneHost, 'web1')
  t.equal(probe.disks[0]!.model, 'WD_BLACKSN850X2000GB')
  t.equal(probe.disks.length, 2)
})

t.test('a kernel without tpm_version_major: TPM 1.2 has caps, TPM 2.0 not', async (t) => {
  const tpm = async (files: string[]) => {
    const root = await treeCopy(t, 'uefi-tpm-nvme-laptop', async (root) => {
      const dir = path.join(root, 'sys/class/tpm/tpm0')
      await rm(path.join(dir, 'tpm_version_major'))
      for (const file of files) await writeFile(path.join(dir, file), '')
    })
    return (await probeOf(root)).tpm
  }
  t.equal(await tpm(['caps']), '1')
  t.equal(await tpm([]), '2')
})

t.test('the plan describes the machine, one fact per line', async (t) => {
  t.same(describeProbe(await probeOf(tree('uefi-tpm-nvme-laptop'))), [
    'architecture: x86_64',
    'memory:       14.2 GiB available of 15.6 GiB',
    'firmware:     UEFI',
    'Secure Boot:  disabled, in setup mode',
    'TPM:          TPM 2.0',
    'system:       ubuntu: nixos-anywhere replaces it through kexec',
    `login:        ${uid === 0 ? 'root' : `uid ${uid}, ${sudo ? 'with' : 'without'} passwordless sudo`}`,
    'disks:        nvme-WD_BLACK_SN850X_2000GB_23123K800123 (nvme0n1): 2.0 TB (2000398934016 bytes), WD_BLACK SN850X 2000GB, serial 23123K800123',
    '              nvme-eui.e8238fa6bf530001001b448b4a2b7c1d (nvme0n1): 2.0 TB (2000398934016 bytes), WD_BLACK SN850X 2000GB, serial 23123K800123',
  ])
  const server = describeProbe({
    ...(await probeOf(tree('two-disk-server'))),
    uid: 1000,
    sudo: true,
  })
  t.match(server, [
    'architecture: x86_64',
    /^memory: +30\.0 GiB available of 31\.2 GiB$/,
    'firmware:     UEFI',
    'Secure Boot:  disabled, not in setup mode',
    'TPM:          none',
    'system:       a NixOS installer, nixos (installer): installed without kexec',
    'login:        uid 1000, with passwordless sudo',
    /^disks: +ata-WDC_WD40EFRX-68N32N0_WD-WCC7K0XXXXX1 \(sda\): 4\.0 TB \(4000787030016 bytes\)/,
  ])
  const bios = describeProbe({
    ...(await probeOf(tree('bios-server-no-tpm'))),
    keystoneHost: 'web1',
    disks: [],
  })
  t.match(bios, [
    /./,
    /./,
    'firmware:     BIOS (legacy)',
    'Secure Boot:  not available (BIOS boot)',
    /./,
    'system:       Keystone host web1, debian',
    /./,
    'disks:        none in /dev/disk/by-id/',
  ])
})

t.test('output Keystone cannot read is one error naming the first bad line', async (t) => {
  const good = (
    await localShell().run(`sh -s -- '${tree('two-disk-server')}'`, {
      stdin: PROBE_SCRIPT,
    })
  ).stdout
  t.equal(parseProbe(good + 'kernel=6.12\n').arch, 'x86_64', 'unknown keys are skipped')
  const cases: [string, string][] = [
    ['Welcome to web1!\n' + good, '`Welcome to web1!`'],
    [good.replace('firmware=uefi', 'firmware=coreboot'), '`firmware=coreboot`'],
    [good.replace('uid=', 'uid=x'), `\`uid=x${uid}\``],
    [good + 'disk=sda\t8:0\n', '`disk=sda\t8:0`'],
    [good + 'disk=ata-x\tsda\t4T\tWDC\tWD-1\n', '`disk=ata-x\tsda\t4T\tWDC\tWD-1`'],
    [good.replace(/^installer=.*\n/m, ''), 'no `installer=` line'],
    ['', 'no `arch=` line'],
  ]
  for (const [output, detail] of cases)
    t.throws(() => parseProbe(output, 'root@web1 (192.0.2.10:22)'), {
      name: 'UserError',
      message: `the probe on root@web1 (192.0.2.10:22) returned output Keystone cannot read: ${detail}`,
      hint: /login banner/,
    })
})
