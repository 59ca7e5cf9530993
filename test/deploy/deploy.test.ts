import { publicKeyString, readSigningKey } from '../../cli/records/signing-key.js'
import { execFile } from 'node:child_process'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { parseDocument } from 'yaml'
import {
  checkNixosAnywhereArgv,
  type FlagSpec,
} from '../helpers/check-nixos-anywhere-argv.js'
import { deployFixture } from '../helpers/deploy-fixture.js'
import { needs } from '../helpers/needs.js'
import { needsSshd } from '../helpers/sshd.js'
import { repoRoot } from '../helpers/temp-fleet.js'

// `keystone deploy` end to end against a real sshd on loopback, recorded hardware for the probe,
// and the recording stand-in for nixos-anywhere (which needs nixpkgs and a machine to wipe).
const execFileAsync = promisify(execFile)
const table = JSON.parse(
  readFileSync(path.join(repoRoot, 'test/fixtures/nixos-anywhere-flags.json'), 'utf8'),
) as { flags: FlagSpec[] }
const skip = needsSshd() || needs('git') || needs('openssl', ['version'])

// The private directory a run used, from the --extra-files path the fake recorded.
const privateDirOf = (argv: string[]) => path.dirname(argv[argv.indexOf('--extra-files') + 1]!)

t.test(
  'plan reads the machine and prints disks, phases, files and secrets; nothing changes',
  { skip },
  async (t) => {
    const f = await deployFixture(t, 'desk1')
    const before = await readFile(f.hostFile, 'utf8')
    const result = await f.run([
      'plan',
      'desk1',
      '--ssh-key',
      f.sshd.clientKeyFile,
      '--probe-root',
      path.join(repoRoot, 'test/fixtures/hardware/uefi-tpm-nvme-laptop'),
    ])
    t.equal(result.code, 0, result.stderr)
    const text = result.stdout.toString()
    t.match(text, 'Plan: deploy desk1 to')
    t.match(
      text,
      /Disks that will be WIPED \(1\):\n {2}\/dev\/disk\/by-id\/nvme-WD_BLACK_SN850X_2000GB_23123K800123\n {6}2\.0 TB \(2000398934016 bytes\), .*serial 23123K800123/,
    )
    for (const phase of ['kexec', 'disko', 'install', 'reboot'])
      t.match(text, new RegExp(`\\d\\. ${phase} `))
    t.match(text, `nix run ${repoRoot}#nixos-anywhere -- --flake ${f.fleet}#desk1`)
    t.match(text, '/etc/ssh/ssh_host_ed25519_key')
    t.match(text, '/var/lib/sbctl/keys')
    t.match(text, '/run/keystone/credstore-passphrase')
    t.match(text, 'Secrets injected into /var/lib/keystone/secrets (names only):\n  (none)')
    t.equal(await readFile(f.hostFile, 'utf8'), before, 'the host file is untouched')
    t.same(await f.recorded(), [], 'nixos-anywhere never ran')
    t.notOk(existsSync(path.join(f.fleet, 'secrets/desk1')), 'no key material was made')
  },
)

t.test(
  'deploy runs the four phases, pins the new host key and disks, and checks the rebooted host (fake nixos-anywhere)',
  { skip },
  async (t) => {
    const f = await deployFixture(t, 'desk1')
    const set = await f.run(['secrets', 'set', 'desk1/mesh-auth-key', '--kind', 'token'], {
      stdin: 'tskey-mesh-123\n',
    })
    t.equal(set.code, 0, set.stderr)
    const result = await f.run(f.deployArgs('uefi-tpm-nvme-laptop', '--yes'))
    t.equal(result.code, 0, result.stderr)
    t.match(result.stdout.toString(), /desk1 is installed .*Next: `keystone enroll desk1`/)
    t.match(result.stdout.toString(), '✓ pool rpool: ONLINE')

    const runs = await f.recorded()
    t.same(await f.phasesRun(), ['kexec', 'disko', 'install', 'reboot'])
    for (const run of runs) {
      t.same(run.argv.slice(0, 3), ['run', `${repoRoot}#nixos-anywhere`, '--'])
      t.same(
        checkNixosAnywhereArgv(run.argv.slice(3), table),
        [],
        `${run.argv.join(' ')}: every flag current`,
      )
      t.equal(run.cwd, f.fleet)
    }
    t.notOk(existsSync(privateDirOf(runs[2]!.argv)), 'the private key directory is gone')

    // Disk keys reached the installer's RAM exactly, without a trailing newline.
    const zfsKey = await readFile(path.join(f.target, 'run/keystone/zfs-raw-key'))
    t.equal(zfsKey.length, 32)
    t.match(
      await readFile(path.join(f.target, 'run/keystone/credstore-passphrase'), 'utf8'),
      /^[a-z]{8}(-[a-z]{8}){7}$/,
    )
    t.equal(
      await f.get('desk1/credstore-passphrase'),
      await readFile(path.join(f.target, 'run/keystone/credstore-passphrase'), 'utf8'),
      'kept in the vault',
    )

    // The installed tree: host keys, Secure Boot keys, the age key and the host's secrets, with modes.
    const mnt = path.join(f.target, 'mnt')
    const mode = (file: string) => (statSync(path.join(mnt, file)).mode & 0o777).toString(8)
    t.equal(mode('etc'), '755')
    t.equal(mode('etc/ssh/ssh_host_ed25519_key'), '600')
    t.equal(mode('var/lib/sbctl'), '700')
    t.ok(existsSync(path.join(mnt, 'var/lib/sbctl/keys/db/db.pem')))
    t.equal(mode('var/lib/keystone/age.key'), '400')
    t.equal(
      await readFile(path.join(mnt, 'var/lib/keystone/secrets/mesh-auth-key'), 'utf8'),
      'tskey-mesh-123',
    )
    t.notOk(
      existsSync(path.join(mnt, 'var/lib/keystone/secrets/credstore-passphrase')),
      'machine secrets stay off the host',
    )

    // The host file pins the installed key and the disks; the generated Nix is current.
    const host = parseDocument(await readFile(f.hostFile, 'utf8')).toJS() as {
      ssh: { hostKey: string }
      storage: { disks: unknown[] }
    }
    const installedKey = (
      await readFile(path.join(mnt, 'etc/ssh/ssh_host_ed25519_key.pub'), 'utf8')
    )
      .split(' ')
      .slice(0, 2)
      .join(' ')
    t.equal(host.ssh.hostKey, installedKey)
    t.same(host.storage.disks, [
      {
        path: '/dev/disk/by-id/nvme-WD_BLACK_SN850X_2000GB_23123K800123',
        sizeBytes: 2000398934016,
        serial: '23123K800123',
      },
    ])
    const check = await f.run(['check'])
    t.equal(check.code, 0, check.stderr)
    const { stdout: tracked } = await execFileAsync('git', ['ls-files', 'hosts/desk1'], {
      cwd: f.fleet,
    })
    t.match(tracked, 'hosts/desk1/facter.json', 'the hardware report is in git')
    const recipients = readFileSync(path.join(f.fleet, 'secrets/recipients.yaml'), 'utf8')
    t.match(recipients, /hosts:\n {2}desk1: age1/, 'the host reads its secrets with its own key')

    // A second deploy keeps the host's identity (same SSH host key from the vault).
    const again = await f.run(f.deployArgs('uefi-tpm-nvme-laptop', '--yes'))
    t.equal(again.code, 0, again.stderr)
    t.equal(
      (await readFile(path.join(mnt, 'etc/ssh/ssh_host_ed25519_key.pub'), 'utf8'))
        .split(' ')
        .slice(0, 2)
        .join(' '),
      installedKey,
      'the same host key again',
    )
  },
)

t.test('deploy needs the typed host name, or --yes', { skip }, async (t) => {
  const f = await deployFixture(t, 'desk1')
  const result = await f.run(f.deployArgs('uefi-tpm-nvme-laptop'))
  t.equal(result.code, 2)
  t.match(result.stderr, 'keystone: deploy wipes a disk of desk1 and needs a confirmation')
  t.same(await f.recorded(), [])
})

t.test(
  'preflight refuses a machine that does not match, one line each, before anything',
  { skip },
  async (t) => {
    const f = await deployFixture(t, 'desk1')
    const result = await f.run(f.deployArgs('bios-server-no-tpm', '--yes'))
    t.equal(result.code, 1)
    t.match(result.stderr, /✗ .*UEFI/)
    t.match(result.stderr, /✗ .*TPM/)
    t.match(result.stderr, /✗ .*nvme-WD_BLACK_SN850X_2000GB_23123K800123/)
    t.match(result.stderr, /keystone: preflight refused to deploy desk1: \d problems/)
    t.notMatch(result.stderr, /\n\s+at /, 'no stack trace')
    t.same(await f.recorded(), [])
  },
)

t.test(
  'a wrong host key stops the deploy with exit 3; an unpinned one needs --accept-host-key',
  { skip },
  async (t) => {
    const f = await deployFixture(t, 'desk1', { pin: false })
    const unpinned = await f.run(f.deployArgs('uefi-tpm-nvme-laptop', '--dry-run'))
    t.equal(unpinned.code, 1)
    const fingerprint = /SHA256:[A-Za-z0-9+/]{43}/.exec(unpinned.stderr)?.[0]
    t.ok(fingerprint, unpinned.stderr)
    const accepted = await f.run(
      f.deployArgs('uefi-tpm-nvme-laptop', '--dry-run', '--accept-host-key', fingerprint!),
    )
    t.equal(accepted.code, 0, accepted.stderr)
    const wrong = await f.run(
      f.deployArgs(
        'uefi-tpm-nvme-laptop',
        '--dry-run',
        '--accept-host-key',
        'SHA256:' + 'A'.repeat(43),
      ),
    )
    t.equal(wrong.code, 3)
    t.same(await f.recorded(), [])
  },
)

t.test('an unreachable host is one line, exit 1', { skip }, async (t) => {
  const f = await deployFixture(t, 'desk1')
  await f.sshd.shutdown()
  const result = await f.run(f.deployArgs('uefi-tpm-nvme-laptop', '--yes'))
  t.equal(result.code, 1)
  t.match(result.stderr, /^keystone: cannot reach desk1 at 127\.0\.0\.1:\d+/m)
  t.same(await f.recorded(), [])
})

t.test(
  'a failing phase stops the deploy with its last lines and a cause; nothing later runs (fake nixos-anywhere)',
  { skip },
  async (t) => {
    const f = await deployFixture(t, 'desk1')
    const before = await readFile(f.hostFile, 'utf8')
    const result = await f.run(f.deployArgs('uefi-tpm-nvme-laptop', '--yes'), {
      env: { FAKE_NIX_FAIL: 'install:tar: ./nix/store/abc: Cannot write: No space left on device' },
    })
    t.equal(result.code, 1)
    t.match(result.stderr, '│ tar: ./nix/store/abc: Cannot write: No space left on device')
    t.match(result.stderr, 'keystone: install failed: the target ran out of disk space')
    t.match(
      result.stderr,
      /hint: nothing after install was run; the full output is in .*deploy-desk1-.*\.log/,
    )
    t.same(await f.phasesRun(), ['kexec', 'disko', 'install'])
    t.notOk(
      existsSync(privateDirOf((await f.recorded())[2]!.argv)),
      'the private key directory is gone',
    )
    t.equal(
      await readFile(f.hostFile, 'utf8'),
      before,
      'nothing pinned for a host that was not installed',
    )
  },
)

for (const phase of ['kexec', 'disko', 'install', 'reboot']) {
  t.test(
    `Ctrl-C during ${phase} stops the deploy, kills the phase and removes the key material (fake nixos-anywhere)`,
    { skip },
    async (t) => {
      const f = await deployFixture(t, 'desk1')
      const child = execFile(
        process.execPath,
        [path.join(repoRoot, 'dist/cli/main.js'), ...f.deployArgs('uefi-tpm-nvme-laptop', '--yes')],
        {
          cwd: f.fleet,
          env: {
            ...process.env,
            ...f.env,
            XDG_CONFIG_HOME: f.config,
            FAKE_NIX_HANG: phase,
            KEYSTONE_DEBUG: '',
          },
        },
      )
      let stderr = ''
      child.stderr!.on('data', (chunk: string) => (stderr += chunk))
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
      for (let i = 0; i < 300 && !existsSync(path.join(f.target, `${phase}-started`)); i++)
        await new Promise((r) => setTimeout(r, 100))
      t.ok(existsSync(path.join(f.target, `${phase}-started`)), `${phase} started`)
      child.kill('SIGINT')
      t.equal(await exited, 130, stderr)
      t.match(stderr, 'keystone: interrupted (SIGINT)')
      const runs = await f.recorded()
      t.equal(runs.at(-1)!.argv[runs.at(-1)!.argv.indexOf('--phases') + 1], phase, 'no later phase')
      const keyDir = /key material: (\S+)/.exec(stderr)?.[1]
      t.ok(keyDir, 'the key directory was named')
      t.notOk(existsSync(keyDir!), 'the private key directory is gone')
      const { stdout } = await execFileAsync('pgrep', ['-f', `${f.fleet}#desk1`]).catch(() => ({
        stdout: '',
      }))
      t.equal(stdout.trim(), '', 'the phase was killed')
    },
  )
}

t.test(
  'a mirror from the installer: the initrd gets its own pinned key; an unhealthy reboot is one line (fake nixos-anywhere)',
  { skip },
  async (t) => {
    const f = await deployFixture(t, 'storage1', { sshdEnv: { FAKE_SYSTEM_STATE: 'degraded' } })
    const result = await f.run(f.deployArgs('two-disk-server', '--yes'))
    t.equal(result.code, 1)
    t.match(
      result.stderr,
      'keystone: storage1 rebooted but is not healthy: the system is degraded; failed units: keystone-load-key.service',
    )
    const runs = await f.recorded()
    t.same(await f.phasesRun(), ['kexec', 'disko', 'install', 'reboot'])
    const disko = runs[1]!.argv
    t.equal(
      disko[disko.indexOf('--ssh-port') + 1],
      String(f.sshd.port),
      'an installer already running keeps its port',
    )
    const initrdKey = await readFile(
      path.join(f.target, 'mnt/etc/secrets/initrd/ssh_host_ed25519_key.pub'),
      'utf8',
    )
    const host = parseDocument(await readFile(f.hostFile, 'utf8')).toJS() as {
      remoteUnlock: { hostKey: string }
      sync: { agentKey: string }
    }
    t.equal(
      host.remoteUnlock.hostKey,
      initrdKey.split(' ').slice(0, 2).join(' '),
      'the initrd key is pinned',
    )
    // The sync agent's heartbeat key: installed for the service, its public half pinned.
    const agentKey = path.join(f.target, 'mnt/var/lib/keystone/agent-signing-key')
    t.equal((statSync(agentKey).mode & 0o777).toString(8), '400')
    t.equal(host.sync.agentKey, publicKeyString(readSigningKey(agentKey)), 'the agent key is pinned')
    t.equal(
      await f.get('storage1/agent-signing-key'),
      await readFile(agentKey, 'utf8'),
      'kept in the vault, so a reinstall keeps it',
    )
    t.equal(
      (statSync(path.join(f.target, 'mnt/etc/secrets/initrd')).mode & 0o777).toString(8),
      '700',
    )
  },
)
