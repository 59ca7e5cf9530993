import { existsSync, readdirSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t, { type Test as Tap } from 'tap'
import { parseDocument } from 'yaml'
import { fakeNixDir, hostToolsDir } from '../helpers/deploy-fixture.js'
import { needs } from '../helpers/needs.js'
import { needsSshd, startSshd } from '../helpers/sshd.js'
import { keystone, tempFleet } from '../helpers/temp-fleet.js'

// `keystone update` against a real sshd on loopback standing in for three installed hosts. The
// local `nix build`/`nix copy` are the recording stand-in (its `nix copy` really connects with the
// ssh options Keystone gives it), the host's nix-env and systemd-run are recording stand-ins.
const skip = needsSshd() || needs('ssh', ['-V'])

async function fleetOfThree(t: Tap, sshdEnv: Record<string, string> = {}) {
  const fleet = await tempFleet(t)
  const work = await mkdtemp(path.join(tmpdir(), 'keystone-update-test-'))
  t.teardown(() => rm(work, { recursive: true, force: true }))
  const hostRecord = path.join(work, 'host-record.txt')
  const sshd = await startSshd({
    pathPrepend: [hostToolsDir],
    env: { FAKE_HOST_RECORD: hostRecord, ...sshdEnv },
  })
  t.teardown(() => sshd.stop())
  for (const name of ['desk1', 'storage1', 'web1']) {
    const file = path.join(fleet, 'hosts', `${name}.yaml`)
    const doc = parseDocument(await readFile(file, 'utf8'))
    doc.setIn(['ssh', 'address'], '127.0.0.1')
    doc.setIn(['ssh', 'port'], sshd.port)
    doc.setIn(['ssh', 'user'], sshd.user)
    doc.setIn(['ssh', 'hostKey'], sshd.hostKeyLine)
    await writeFile(file, doc.toString())
  }
  const env = {
    PATH: `${fakeNixDir}:${process.env.PATH}`,
    FAKE_NIX_RECORD: path.join(work, 'nix-record.jsonl'),
    XDG_STATE_HOME: path.join(work, 'state'),
    SSH_AUTH_SOCK: '',
  }
  const generated = await keystone(['generate', '--all'], { cwd: fleet, env })
  if (generated.code !== 0) throw new Error(generated.stderr)
  const run = (args: string[], extra: Record<string, string> = {}) =>
    keystone(['update', ...args, '--ssh-key', sshd.clientKeyFile], {
      cwd: fleet,
      env: { ...env, ...extra },
    })
  const hostLines = async () =>
    existsSync(hostRecord) ? (await readFile(hostRecord, 'utf8')).trim().split('\n') : []
  return {
    fleet,
    sshd,
    run,
    hostLines,
    logs: path.join(work, 'state/keystone/logs'),
    nixRecord: env.FAKE_NIX_RECORD,
  }
}

t.test(
  'update registers the boot entry, then switches under systemd-run (fake nix)',
  { skip },
  async (t) => {
    const f = await fleetOfThree(t)
    const result = await f.run(['web1'])
    t.equal(result.code, 0, result.stderr)
    const [profile, boot, switched] = await f.hostLines()
    t.match(
      profile,
      /^nix-env -p \/nix\/var\/nix\/profiles\/system --set \/nix\/store\/[0-9a-f]{32}-nixos-system-web1-26\.05$/,
    )
    t.match(
      boot,
      /^systemd-run --unit=keystone-boot-\d{8}T\d{6} --description=keystone update: boot --service-type=exec --wait --quiet --no-ask-password \/nix\/store\/\S+-nixos-system-web1-26\.05\/bin\/switch-to-configuration boot$/,
    )
    t.match(
      switched,
      /^systemd-run --unit=keystone-switch-\d{8}T\d{6} .* --wait .*\/bin\/switch-to-configuration switch$/,
    )
    t.notMatch(switched, /--pipe/, 'the switch does not depend on the SSH session')
    t.match(result.stdout, /^web1 +updated/m)
    t.match(readdirSync(f.logs).join(' '), /update-web1-\d{8}T\d{6}\.log/)
  },
)

t.test(
  'one failing host is reported; the others are updated; exit 1 (fake nix)',
  { skip },
  async (t) => {
    const f = await fleetOfThree(t)
    const result = await f.run(['--all', '--parallel', '2'], { FAKE_NIX_BUILD_FAIL: 'storage1' })
    t.equal(result.code, 1)
    t.match(result.stdout, /^desk1 +updated/m)
    t.match(result.stdout, /^storage1 +failed \(build\) .*a build of the host’s system failed/m)
    t.match(result.stdout, /^web1 +updated/m)
    t.match(result.stderr, 'keystone: 1 of 3 hosts failed to update: storage1')
    const switched = (await f.hostLines()).filter((line) => line.endsWith(' switch'))
    t.equal(switched.length, 2)
    t.notOk(switched.some((line) => line.includes('storage1')))
    t.equal(readdirSync(f.logs).length, 3, 'one log per host')
  },
)

t.test('a failing switch is reported for its host (fake nix)', { skip }, async (t) => {
  const f = await fleetOfThree(t, { FAKE_SWITCH_FAIL: '1' })
  const result = await f.run(['desk1'])
  t.equal(result.code, 1)
  t.match(result.stdout, /^desk1 +failed \(switch\) .*Job for keystone-switch failed/m)
})

t.test('an unpinned host is not updated; bad --parallel is a usage error', { skip }, async (t) => {
  const f = await fleetOfThree(t)
  const file = path.join(f.fleet, 'hosts/web1.yaml')
  const doc = parseDocument(await readFile(file, 'utf8'))
  doc.deleteIn(['ssh', 'hostKey'])
  await writeFile(file, doc.toString())
  await keystone(['generate', 'web1'], { cwd: f.fleet })
  const result = await f.run(['web1'])
  t.equal(result.code, 1)
  t.match(result.stdout, /^web1 +failed \(connect\) +.*ssh\.hostKey is not pinned/m)
  t.same(await f.hostLines(), [])
  const usage = await f.run(['--all', '--parallel', '0'])
  t.equal(usage.code, 2)
})

t.test(
  'update --dry-run shows every host’s steps and runs nothing; --json the same as data',
  { skip },
  async (t) => {
    const f = await fleetOfThree(t)
    const shown = await f.run(['--all', '--dry-run'])
    t.equal(shown.code, 0, shown.stderr)
    for (const name of ['desk1', 'storage1', 'web1']) {
      t.match(shown.stdout, new RegExp(`^${name}: would run$`, 'm'))
      t.match(
        shown.stdout,
        new RegExp(
          `^  build +nix build --no-link --print-out-paths \\S+#nixosConfigurations\\.${name}\\.config\\.system\\.build\\.toplevel$`,
          'm',
        ),
      )
    }
    t.match(shown.stdout, /^ {2}copy +nix copy --to ssh-ng:\/\/\S+@127\.0\.0\.1 <system>$/m)
    t.match(
      shown.stdout,
      /^ {2}switch +systemd-run --unit=keystone-switch-\d{8}T\d{6} .*<system>\/bin\/switch-to-configuration'? switch$/m,
    )
    t.match(shown.stdout, /nothing was run \(--dry-run\)/)

    const json = await f.run(['web1', '--dry-run', '--json'])
    t.equal(json.code, 0, json.stderr)
    const plan = JSON.parse(json.stdout) as {
      dryRun: boolean
      hosts: { host: string; build: string[]; bootEntry: string }[]
    }
    t.equal(plan.dryRun, true)
    t.same(
      plan.hosts.map((h) => h.host),
      ['web1'],
    )
    t.same(plan.hosts[0]!.build, [
      'nix',
      'build',
      '--no-link',
      '--print-out-paths',
      `${f.fleet}#nixosConfigurations.web1.config.system.build.toplevel`,
    ])
    t.match(
      plan.hosts[0]!.bootEntry,
      /^nix-env -p \/nix\/var\/nix\/profiles\/system --set '?<system>'? && systemd-run --unit=keystone-boot-/,
    )

    t.notOk(existsSync(f.nixRecord), 'nix was never called')
    t.same(await f.hostLines(), [], 'nothing ran on the hosts')
    t.notOk(existsSync(f.logs), 'no update log was started')

    const file = path.join(f.fleet, 'hosts/web1.yaml')
    const doc = parseDocument(await readFile(file, 'utf8'))
    doc.deleteIn(['ssh', 'hostKey'])
    await writeFile(file, doc.toString())
    const refused = await f.run(['--all', '--dry-run'])
    t.equal(refused.code, 1)
    t.match(refused.stdout, /^web1: would not be updated\n {2}✗ ssh\.hostKey is not pinned/m)
    t.match(refused.stdout, /^desk1: would run$/m)
    t.match(refused.stderr, /^keystone: 1 of 3 hosts would fail to update: web1\n/)
    t.same(await f.hostLines(), [])
  },
)
