import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, readlink, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import type { Host } from '../../cli/host/host-schema.js'
import { loadFleet } from '../../cli/host/load-fleet.js'
import { renderDisko } from '../../cli/nix/render-disko.js'
import {
  bootFactsOf,
  crypttabOptions,
  escapeSystemdPath,
  evalBootUnits,
  initrdOverlay,
} from '../../cli/rehearsal/initrd-overlay.js'
import {
  initrdRoot,
  loadUnitGraph,
  stoppedWith,
  verifyUnits,
} from '../helpers/unit-graph.js'
import { needs } from '../helpers/needs.js'
import { repoRoot } from '../helpers/temp-fleet.js'

// The initrd overlay the rehearsal boots: modules/disk's unit definitions evaluated by the real
// nix-instantiate, rendered into unit files, packed as newc cpio and unpacked by the real cpio.
const skip = needs('nix-instantiate') || needs('cpio')
const hosts = Object.fromEntries(
  (await loadFleet(repoRoot)).map((l) => [l.host.name, l.host]),
) as Record<string, Host>

t.test(
  'unit names escaped as the real systemd-escape --path does',
  { skip: needs('systemd-escape') },
  async (t) => {
    for (const p of [
      '/dev/disk/by-id/virtio-KS01-part2',
      '/etc/credstore',
      '/',
      '/a/.hidden b',
      '/.x//y/',
      '/dev/disk/by-id/wwn-0x5002:ä',
    ])
      t.equal(
        escapeSystemdPath(p),
        execFileSync('systemd-escape', ['--path', p]).toString().trim(),
        p,
      )
  },
)

t.test(
  'storage1’s units: the files of a systemd initrd, with the definitions of modules/disk',
  { skip },
  async (t) => {
    const facts = bootFactsOf(renderDisko(hosts.storage1!), hosts.storage1!.tpm.enable)
    t.same(facts.datasets.map((d) => d.mountpoint).sort(), ['/', '/nix', '/srv/backups', '/var'])
    const units = await evalBootUnits(facts)
    const archive = initrdOverlay(units, facts, await crypttabOptions(facts))
    const dir = await mkdtemp(path.join(tmpdir(), 'keystone-overlay-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    execFileSync('cpio', ['-idm', '--quiet', '--no-absolute-filenames'], {
      cwd: dir,
      input: archive,
    })
    const read = (file: string) => readFile(path.join(dir, file), 'utf8')

    const loadKey = await read('etc/systemd/system/keystone-load-key.service')
    t.match(
      loadKey,
      /^\[Unit\]\nAfter=keystone-import-pool\.service\nBefore=sysroot\.mount\nDefaultDependencies=false\nDescription=Load the key of rpool\/crypt from the credstore\nRequires=keystone-import-pool\.service\nRequiresMountsFor=\/etc\/credstore\n/,
    )
    t.match(
      loadKey,
      /\[Service\]\nExecStart=\/usr\/lib\/keystone\/keystone-load-key-start\nLoadCredential=zfs-sysroot\.mount:\/etc\/credstore\/zfs-sysroot\.mount\nType=oneshot\n/,
    )
    t.equal(
      await readlink(
        path.join(dir, 'etc/systemd/system/sysroot.mount.wants/keystone-load-key.service'),
      ),
      '/etc/systemd/system/keystone-load-key.service',
      'wantedBy sysroot.mount, as the module declares',
    )
    t.notOk(
      existsSync(path.join(dir, 'etc/systemd/system/sysroot.mount.requires')),
      'nothing stops /sysroot with the credstore',
    )
    const importPool = await read('etc/systemd/system/keystone-import-pool.service')
    t.match(
      importPool,
      'After=modprobe@zfs.service dev-disk-by\\x2did-ata\\x2dWDC_WD40EFRX\\x2d68N32N0_WD\\x2dWCC7K0XXXXX1\\x2dpart2.device',
    )
    const script = await read('usr/lib/keystone/keystone-import-pool-start')
    t.match(script, /^#!\/bin\/bash -e\nset -euo pipefail\n/)
    t.match(script, "/usr/sbin/zpool import -N -d '/dev/disk/by-id' rpool")
    t.match(
      script,
      "for dataset in 'rpool/crypt/system' 'rpool/crypt/system/nix' 'rpool/crypt/system/var'; do",
    )
    t.equal(
      await read('etc/systemd/system/etc-credstore.mount'),
      '[Unit]\nAfter=systemd-cryptsetup@credstore.service\nDefaultDependencies=false\nRequires=systemd-cryptsetup@credstore.service\n\n[Mount]\nOptions=ro,nodev,nosuid,noexec\nType=ext4\nWhat=/dev/mapper/credstore\nWhere=/etc/credstore\n',
    )
    t.equal(
      await read('etc/systemd/system/initrd-switch-root.target.d/overrides.conf'),
      '[Unit]\nAfter=etc-credstore.mount systemd-cryptsetup@credstore.service\nConflicts=etc-credstore.mount systemd-cryptsetup@credstore.service\n',
    )
    t.equal(
      await read('etc/systemd/system/systemd-udevd.service.d/overrides.conf'),
      '[Unit]\nBefore=systemd-cryptsetup@credstore.service\n',
    )
    // storage1 unlocks remotely, without the TPM: no tpm2-device= option.
    t.equal(await read('etc/crypttab'), 'credstore /dev/zvol/rpool/credstore - discard\n')
    t.equal(
      await read('etc/fstab'),
      'rpool/crypt/system /sysroot zfs zfsutil 0 0\nrpool/crypt/system/nix /sysroot/nix zfs zfsutil 0 0\nrpool/crypt/system/var /sysroot/var zfs zfsutil 0 0\n',
      'only the file systems needed for boot',
    )
  },
)

t.test('web1 with the TPM: the crypttab options of modules/tpm', { skip }, async (t) => {
  const facts = bootFactsOf(renderDisko(hosts.web1!), true)
  t.same(await crypttabOptions(facts), ['discard', 'tpm2-device=auto', 'tpm2-measure-pcr=yes'])
})

// Issue: with keystone-load-key requiredBy sysroot.mount, closing the credstore at switch-root
// stopped /sysroot (the rehearsal machine's "Failed to start initrd-switch-root.service").
// systemd.unit(5) Requires=/BindsTo=/PartOf=: a stop of the required unit stops this one;
// systemd 252.39's src/core/transaction.c propagates the stop through inactive units too (lines
// 1058–1086, no state check) and keeps it when the transaction isolates (lines 728–729: no
// garbage collection for JOB_ISOLATE); initrd-cleanup.service isolates initrd-switch-root.target,
// which conflicts with the credstore. The walk follows those rules: test/helpers/unit-graph.ts.
for (const name of ['storage1', 'web1'] as const)
  t.test(
    `${name}: the real systemd verifies the credstore units, and closing the credstore stops no /sysroot mount`,
    { skip: skip || needs('systemd-analyze') },
    async (t) => {
      const host = hosts[name]!
      const facts = bootFactsOf(renderDisko(host), host.tpm.enable)
      const overlay = initrdOverlay(await evalBootUnits(facts), facts, await crypttabOptions(facts))
      const root = await initrdRoot(overlay)
      t.teardown(() => rm(root, { recursive: true, force: true }))

      t.same(
        await verifyUnits(root, [
          'keystone-import-pool.service',
          'systemd-cryptsetup@credstore.service',
          'etc-credstore.mount',
          'keystone-load-key.service',
          'sysroot.mount',
          'initrd-switch-root.target',
        ]),
        [],
        'systemd-analyze verify has nothing to say',
      )

      const graph = await loadUnitGraph(root)
      const closed = graph.get('initrd-switch-root.target')?.get('Conflicts') ?? []
      t.same(closed.sort(), ['etc-credstore.mount', 'systemd-cryptsetup@credstore.service'])
      const stopped = stoppedWith(graph, closed)
      t.ok(stopped.has('keystone-load-key.service'), 'the walk reaches the key-load unit')
      const roots = [...graph.keys()].filter((unit) => /^sysroot(-.+)?\.mount$/.test(unit))
      t.ok(
        roots.includes('sysroot.mount'),
        `the fstab generator made the /sysroot mounts: ${roots.join(' ')}`,
      )
      for (const unit of roots)
        t.notOk(stopped.get(unit), `${unit} is not stopped with the credstore`)

      // The binding it had before: requiredBy sysroot.mount. The same walk finds the stop path.
      const requires = path.join(root, 'etc/systemd/system/sysroot.mount.requires')
      await mkdir(requires, { recursive: true })
      await symlink(
        '/etc/systemd/system/keystone-load-key.service',
        path.join(requires, 'keystone-load-key.service'),
      )
      t.match(
        stoppedWith(await loadUnitGraph(root), closed).get('sysroot.mount'),
        /^etc-credstore\.mount → keystone-load-key\.service \(Requires=etc-credstore\.mount\) → sysroot\.mount \(Requires=keystone-load-key\.service\)$/,
        'requiredBy would stop /sysroot at switch-root',
      )
    },
  )
