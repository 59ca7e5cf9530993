import { readFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import {
  checkNixosAnywhereArgv,
  type FlagSpec,
} from '../helpers/check-nixos-anywhere-argv.js'
import { planNixosAnywhere } from '../../cli/deploy/plan-nixos-anywhere.js'

// The flag table of the pinned nixos-anywhere (91fc9b7), read from its argument parser and
// confirmed by running the script: every argv Keystone builds is checked against it.
const table = JSON.parse(
  readFileSync(path.resolve(import.meta.dirname, '../fixtures/nixos-anywhere-flags.json'), 'utf8'),
) as { rev: string; flags: FlagSpec[] }

const input = {
  flake: '/home/alice/fleet',
  host: 'web1',
  target: { address: '192.0.2.10', user: 'admin', port: 2200 },
  identityFile: '/home/alice/.ssh/id_ed25519',
  facterReport: 'hosts/web1/facter.json',
  diskKeys: [
    {
      remote: '/run/keystone/credstore-passphrase',
      local: '/dev/shm/keystone-x/credstore-passphrase',
    },
    { remote: '/run/keystone/zfs-raw-key', local: '/dev/shm/keystone-x/zfs-raw-key' },
  ],
  extraFiles: '/dev/shm/keystone-x/extra-files',
}

t.test('the flag table is the pinned revision’s', async (t) => {
  t.equal(table.rev, '91fc9b7 2026-07-22')
  t.equal(table.flags.length, 34)
})

t.test('a deploy is four nixos-anywhere runs, one per phase, each argv sound', async (t) => {
  const phases = planNixosAnywhere(input)
  t.same(
    phases.map((phase) => phase.name),
    ['kexec', 'disko', 'install', 'reboot'],
  )
  for (const phase of phases) {
    t.same(
      checkNixosAnywhereArgv(phase.argv, table),
      [],
      `${phase.name}: every flag known, current and complete`,
    )
    t.ok(phase.argv.includes('--phases'), `${phase.name} names its phase`)
    t.notOk(phase.argv.includes('--force-kexec'))
  }
  t.same(phases[0]!.argv, [
    '--flake',
    '/home/alice/fleet#web1',
    '--target-host',
    'admin@192.0.2.10',
    '--ssh-port',
    '2200',
    '-i',
    '/home/alice/.ssh/id_ed25519',
    '--phases',
    'kexec',
    '--generate-hardware-config',
    'nixos-facter',
    'hosts/web1/facter.json',
  ])
  const disko = phases[1]!.argv
  t.same(
    disko.slice(disko.indexOf('--target-host'), disko.indexOf('--target-host') + 4),
    ['--target-host', 'root@192.0.2.10', '--ssh-port', '22'],
    'after kexec: root on the installer’s port',
  )
  t.same(
    disko.slice(disko.indexOf('--phases')),
    [
      '--phases',
      'disko',
      '--disk-encryption-keys',
      '/run/keystone/credstore-passphrase',
      '/dev/shm/keystone-x/credstore-passphrase',
      '--disk-encryption-keys',
      '/run/keystone/zfs-raw-key',
      '/dev/shm/keystone-x/zfs-raw-key',
    ],
    'disk keys reach the installer’s RAM before disko, as the generated disko.nix expects',
  )
  t.same(phases[2]!.argv.slice(-4), [
    '--phases',
    'install',
    '--extra-files',
    '/dev/shm/keystone-x/extra-files',
  ])
  t.notOk(
    phases.some((phase) => phase.name !== 'disko' && phase.argv.includes('--disk-encryption-keys')),
    'disk keys only where needed',
  )
})

t.test('the checker refuses what nixos-anywhere would misread', async (t) => {
  const check = (argv: string[]) => checkNixosAnywhereArgv(argv, table)
  t.same(check(['--no-reboot']), ['deprecated flag --no-reboot'])
  t.same(check(['--build-on-remote']), ['deprecated flag --build-on-remote'])
  t.match(check(['--force-kexec', '--flake', '.#x']).join('\n'), /never emit it/)
  t.same(check(['--frobnicate']), ['unknown flag --frobnicate'])
  t.same(check(['--disk-encryption-keys', '/run/k']), [
    '--disk-encryption-keys takes 2 values, got ["/run/k"]',
  ])
  t.same(check(['--generate-hardware-config', 'facter', 'x.json']), [
    '--generate-hardware-config facter: expected one of nixos-facter, nixos-generate-config',
  ])
  t.same(check(['--phases', 'kexec,format']), [
    '--phases: `format` is not one of kexec, disko, install, reboot',
  ])
  t.same(check(['--ssh-port', '--flake', '.#x']), ['--ssh-port takes 1 value, got ["--flake"]'])
  t.same(check(['root@a', 'root@b']), ['a second positional argument `root@b`'])
  t.same(check(['--build-on', 'remote', '--phases', 'disko,install', 'root@a']), [])
})
