import { randomBytes } from 'node:crypto'
import { execFile } from 'node:child_process'
import { readFile, readdir, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { deployFixture } from '../helpers/deploy-fixture.js'
import { needs } from '../helpers/needs.js'
import { needsSshd } from '../helpers/sshd.js'
import { startSwtpm } from '../helpers/swtpm.js'
import { repoRoot } from '../helpers/temp-fleet.js'

// The threat model's exposures for a whole deploy (fake nixos-anywhere): strace records every
// program Keystone starts, with argv and environment; afterwards the recorded argv, the logs, the
// fleet and the temporary directories are searched for every secret the deploy made or injected.
const exec = promisify(execFile)
const mainJs = path.join(repoRoot, 'dist/cli/main.js')
const skip =
  needsSshd() || needs('strace', ['-V']) || needs('openssl', ['version']) || needs('swtpm', ['--version']) || needs('cryptsetup', ['--version'])

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name))
}

t.test(
  'a deploy leaves no secret in argv, environments, logs, the fleet or temporary directories (fake nixos-anywhere)',
  { skip },
  async (t) => {
    const f = await deployFixture(t, 'desk1', { traceTarget: true })
    const meshKey = 'tskey-CANARY-' + randomBytes(16).toString('hex')
    t.equal((await f.run(['secrets', 'set', 'desk1/mesh-auth-key'], { stdin: meshKey })).code, 0)
    const before = new Set([...(await readdir(tmpdir())), ...(await readdir('/dev/shm'))])

    const trace = path.join(f.state, 'trace')
    const command = ['node', mainJs, ...f.deployArgs('uefi-tpm-nvme-laptop', '--yes')]
    const traced = await exec(
      'strace',
      ['-f', '-v', '-s', '65536', '-e', 'trace=execve', '-o', trace, ...command],
      {
        cwd: f.fleet,
        env: { ...process.env, ...f.env, XDG_CONFIG_HOME: f.config },
      },
    ).catch((error: { stderr: string }) => error)
    t.notOk('code' in traced, traced.stderr)
    const traceText = await readFile(trace, 'utf8')
    t.match(traceText, /execve\("[^"]*fake-nixos-anywhere\/nix"/, 'strace saw nixos-anywhere start')
    t.match(traceText, /execve\("[^"]*ssh-keygen"/, 'and ssh-keygen')

    // Then enroll: the credstore (a LUKS2 file with the passphrase deploy made) bound to swtpm.
    const tpm = await startSwtpm()
    t.teardown(tpm.stop)
    const luks = path.join(f.state, 'credstore.img')
    const initialKey = path.join(f.state, 'initial-key')
    await writeFile(initialKey, await f.get('desk1/credstore-passphrase'), { mode: 0o600 })
    await exec('truncate', ['-s', '20M', luks])
    await exec('cryptsetup', ['luksFormat', '--type', 'luks2', '--batch-mode', '--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000', '--key-file', initialKey, luks])
    const enrollTrace = path.join(f.state, 'enroll-trace')
    const enrolled = await exec(
      'strace',
      ['-f', '-v', '-s', '65536', '-e', 'trace=execve', '-o', enrollTrace, 'node', mainJs, 'enroll', 'desk1', '--ssh-key', f.sshd.clientKeyFile, '--identity', f.key, '--credstore-device', luks, '--tpm2-device', tpm.tcti],
      { cwd: f.fleet, env: { ...process.env, ...f.env, XDG_CONFIG_HOME: f.config } },
    ).catch((error: { stderr: string }) => error)
    t.notOk('code' in enrolled, enrolled.stderr)
    t.match(await readFile(f.targetTrace, 'utf8'), /execve\("[^"]*systemd-cryptenroll"/, 'the target trace saw systemd-cryptenroll')

    // Every secret, as text and in the forms a binary key would be written in.
    const secrets: Buffer[] = [Buffer.from(meshKey)]
    for (const name of ['credstore-passphrase', 'age-key', 'recovery-key'])
      secrets.push(Buffer.from(await f.get(`desk1/${name}`)))
    const zfsKey = Buffer.from(
      (
        await exec('node', [mainJs, 'secrets', 'get', 'desk1/zfs-key', '--identity', f.key], {
          cwd: f.fleet,
          env: { ...process.env, XDG_CONFIG_HOME: f.config },
          encoding: 'buffer',
        })
      ).stdout,
    )
    t.equal(zfsKey.length, 32)
    secrets.push(
      zfsKey,
      Buffer.from(zfsKey.toString('hex')),
      Buffer.from(zfsKey.toString('base64')),
    )
    const sshKey = await f.get('desk1/ssh-host-key')
    secrets.push(Buffer.from(sshKey.split('\n')[2]!), Buffer.from(sshKey.split('\n')[3]!))
    const sbKeys = JSON.parse(await f.get('desk1/secure-boot-keys')) as Record<string, string>
    const dbKey = Buffer.from(sbKeys['keys/db/db.key']!, 'base64').toString('utf8').split('\n')
    secrets.push(Buffer.from(dbKey[1]!), Buffer.from(dbKey[2]!))
    t.ok(
      secrets.every((secret) => secret.length >= 24),
      'every secret is long enough to find',
    )

    const places = [
      trace,
      enrollTrace,
      f.targetTrace,
      path.join(f.fleet, 'hosts/desk1/enrollment.json'),
      ...(await filesUnder(path.join(f.state, 'keystone/logs'))),
      ...(await filesUnder(f.fleet)).filter(
        (file) => !file.endsWith('alice.key') && !file.includes('/.git/'),
      ),
      f.record,
    ]
    for (const entry of [
      ...(await readdir(tmpdir())).map((e) => path.join(tmpdir(), e)),
      ...(await readdir('/dev/shm')).map((e) => path.join('/dev/shm', e)),
      ...(await readdir('/run')).filter((e) => e.startsWith('keystone-')).map((e) => path.join('/run', e)),
    ])
      if (!before.has(path.basename(entry)) && !entry.startsWith(path.dirname(f.target)))
        places.push(...(await filesUnder(entry)))
    t.ok(places.length > 10, `${places.length} files searched`)
    for (const file of places) {
      const content = await readFile(file).catch(() => Buffer.alloc(0))
      const hits = secrets.filter((secret) => content.includes(secret))
      t.equal(hits.length, 0, `${path.relative(f.state, file)} holds no secret`)
    }
  },
)
