import { execFile, execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { knownHostsLine, pinnedSshOptions } from '../../cli/deploy/known-hosts.js'
import { needs } from '../helpers/needs.js'
import { needsSshd, startSshd } from '../helpers/sshd.js'

// The known_hosts file Keystone writes for OpenSSH clients it starts (`nix copy`), checked with
// the real `ssh` against a real sshd.
const exec = promisify(execFile)
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJtflGGbehKBZMOkequ5pPtixIAwazu6tVhoa+ZPJ945'

t.test(
  'one line per host: bare on port 22, [host]:port otherwise, without the comment',
  async (t) => {
    t.equal(knownHostsLine('192.0.2.10', 22, `${KEY} root@web1`), `192.0.2.10 ${KEY}`)
    t.equal(knownHostsLine('192.0.2.10', 2222, `${KEY}\n`), `[192.0.2.10]:2222 ${KEY}`)
    t.equal(knownHostsLine('web1.example.org', 22, KEY), `web1.example.org ${KEY}`)
    t.equal(knownHostsLine('2001:db8::10', 2222, KEY), `[2001:db8::10]:2222 ${KEY}`)
    t.throws(() => knownHostsLine('192.0.2.10', 22, 'ssh-ed25519 AAAA'), {
      message: /^expected an OpenSSH public key line/,
    })
    t.same(pinnedSshOptions('/run/keystone/known_hosts'), [
      'StrictHostKeyChecking=yes',
      'UserKnownHostsFile=/run/keystone/known_hosts',
      'GlobalKnownHostsFile=/dev/null',
    ])
  },
)

t.test(
  'ssh with the pinned options connects to the pinned key and refuses any other',
  { skip: needsSshd() || needs('ssh', ['-V']) },
  async (t) => {
    const sshd = await startSshd()
    t.teardown(() => sshd.stop())
    const work = await mkdtemp(path.join(tmpdir(), 'keystone-known-hosts-'))
    t.teardown(() => rm(work, { recursive: true, force: true }))
    const knownHosts = path.join(work, 'known_hosts')
    // -F /dev/null: nothing from the runner's ~/.ssh/config or /etc/ssh/ssh_config takes part.
    const ssh = () =>
      exec('ssh', [
        '-F',
        '/dev/null',
        ...pinnedSshOptions(knownHosts).flatMap((option) => ['-o', option]),
        ...['-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-i', sshd.clientKeyFile],
        ...['-p', String(sshd.port), `${sshd.user}@127.0.0.1`, 'echo pinned'],
      ]).then(
        ({ stdout }) => ({ code: 0, stdout, stderr: '' }),
        (error: { code: number; stdout: string; stderr: string }) => error,
      )

    const pinned = knownHostsLine('127.0.0.1', sshd.port, sshd.hostKeyLine) + '\n'
    t.match(pinned, `[127.0.0.1]:${sshd.port} ssh-ed25519 `)
    await writeFile(knownHosts, pinned)
    t.same(await ssh(), { code: 0, stdout: 'pinned\n', stderr: '' })

    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(work, 'other')])
    const other = await readFile(path.join(work, 'other.pub'), 'utf8')
    const wrong = knownHostsLine('127.0.0.1', sshd.port, other) + '\n'
    await writeFile(knownHosts, wrong)
    const refused = await ssh()
    t.equal(refused.code, 255)
    t.equal(refused.stdout, '', 'the command did not run')
    t.match(refused.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED/)
    t.match(refused.stderr, /Host key verification failed/)
    t.equal(await readFile(knownHosts, 'utf8'), wrong, 'ssh left the pinned file alone')

    // The right key, but for another port of the same address: the file vouches for no key.
    await writeFile(knownHosts, knownHostsLine('127.0.0.1', sshd.port + 1, sshd.hostKeyLine) + '\n')
    const unknown = await ssh()
    t.equal(unknown.code, 255)
    t.match(unknown.stderr, /Host key verification failed/)
    t.notMatch(unknown.stderr, /IDENTIFICATION HAS CHANGED/)
  },
)
