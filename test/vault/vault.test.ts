import { execFile } from 'node:child_process'
import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { needs } from '../helpers/needs.js'
import { vaultFixture } from '../helpers/vault-cli.js'

// `keystone secrets` end to end: the built CLI in separate processes, real age files on disk, and
// Debian's `age` binary as the independent reader and writer.
const exec = promisify(execFile)
const skipAge = needs('age', ['--version'])
const PASS = 'correct horse battery staple'

async function ageKeygen(dir: string, name: string): Promise<{ file: string; recipient: string }> {
  const file = path.join(dir, `${name}.key`)
  await exec('age-keygen', ['-o', file])
  const { stdout } = await exec('age-keygen', ['-y', file])
  return { file, recipient: stdout.trim() }
}

t.test('init locks a new identity with the passphrase and lists the admin', async (t) => {
  const { fleet, config, run } = await vaultFixture(t)
  const init = await run(
    ['secrets', 'init', '--admin', 'alice', '--passphrase-fd', '3', '--scrypt-work-factor', '10'],
    { fd3: PASS + '\n' },
  )
  t.equal(init.code, 0, init.stderr)
  const recipient = /your public key: (age1\S+)/.exec(init.stdout.toString())?.[1]
  t.ok(recipient)
  t.match(
    await readFile(path.join(fleet, 'secrets/recipients.yaml'), 'utf8'),
    `alice: ${recipient}`,
  )
  const identity = path.join(config, 'keystone/identity.age')
  t.equal((await stat(identity)).mode & 0o777, 0o600)
  t.equal((await stat(path.dirname(identity))).mode & 0o777, 0o700)
  t.match(
    await readFile(identity, 'utf8'),
    /^age-encryption\.org\/v1\n-> scrypt /,
    'an age file locked by scrypt',
  )
  t.notMatch(await readFile(identity, 'latin1'), /AGE-SECRET-KEY/)

  // set, then get with the passphrase; a wrong passphrase is exit 4 with one line and no output
  const set = await run(['secrets', 'set', 'fleet/s3-backup', '--kind', 's3-credentials'], {
    stdin: 'AKIA:very-secret',
  })
  t.equal(set.code, 0, set.stderr)
  const get = await run(['secrets', 'get', 'fleet/s3-backup', '--passphrase-fd', '3'], {
    fd3: PASS + '\n',
  })
  t.equal(get.code, 0, get.stderr)
  t.equal(get.stdout.toString(), 'AKIA:very-secret', 'exact bytes, no newline added')
  const wrong = await run(['secrets', 'get', 'fleet/s3-backup', '--passphrase-fd', '3'], {
    fd3: 'not it\n',
  })
  t.equal(wrong.code, 4)
  t.equal(wrong.stdout.length, 0)
  t.match(wrong.stderr, /^keystone: .*identity\.age: wrong passphrase\n  hint: /)
  t.notMatch(wrong.stderr, /at .*\.js:\d+/, 'no stack trace')
})

t.test(
  'without an identity: exit 5 and the command that fixes it',
  { skip: skipAge },
  async (t) => {
    const { fleet, run } = await vaultFixture(t)
    const alice = await ageKeygen(fleet, 'alice')
    t.equal(
      (await run(['secrets', 'recipients', 'add', alice.recipient, '--admin', 'alice'])).code,
      1,
      'no recipients.yaml yet',
    )
    const init = await run(['secrets', 'init', '--admin', 'alice', '--identity', alice.file])
    t.equal(init.code, 0, init.stderr)
    t.equal((await run(['secrets', 'set', 'fleet/token'], { stdin: 'x' })).code, 0)
    const none = await run(['secrets', 'get', 'fleet/token', '--passphrase-fd', '3'], { fd3: PASS })
    t.equal(none.code, 5)
    t.match(none.stderr, /no Keystone identity at .*\n  hint: run `keystone secrets init`/)
  },
)

t.test(
  'files interoperate with the age binary in both directions',
  { skip: skipAge },
  async (t) => {
    const { fleet, run } = await vaultFixture(t)
    const alice = await ageKeygen(fleet, 'alice')
    t.equal((await run(['secrets', 'init', '--admin', 'alice', '--identity', alice.file])).code, 0)
    const value = Buffer.from([0, 1, 2, 255, 10, 13, 0x41])
    t.equal((await run(['secrets', 'set', 'fleet/binary'], { stdin: value })).code, 0)
    const { stdout } = await exec(
      'age',
      ['-d', '-i', alice.file, path.join(fleet, 'secrets/fleet/binary.age')],
      { encoding: 'buffer' },
    )
    t.same(stdout, value, 'age decrypts what Keystone wrote, byte for byte')

    const file = path.join(fleet, 'secrets/fleet/from-age.age')
    await exec('sh', ['-c', `printf %s 'made by age' | age -r ${alice.recipient} -o '${file}'`])
    const get = await run(['secrets', 'get', 'fleet/from-age', '--identity', alice.file])
    t.equal(get.code, 0, get.stderr)
    t.equal(get.stdout.toString(), 'made by age', 'Keystone decrypts what age wrote')
  },
)

t.test(
  'tampered, truncated and foreign files fail with one line and a distinct code',
  { skip: skipAge },
  async (t) => {
    const { fleet, run } = await vaultFixture(t)
    const alice = await ageKeygen(fleet, 'alice')
    const mallory = await ageKeygen(fleet, 'mallory')
    t.equal((await run(['secrets', 'init', '--admin', 'alice', '--identity', alice.file])).code, 0)
    t.equal(
      (await run(['secrets', 'set', 'fleet/db'], { stdin: 'p4ssw0rd-of-the-database'.repeat(100) }))
        .code,
      0,
    )
    const file = path.join(fleet, 'secrets/fleet/db.age')
    const good = await readFile(file)
    const get = () => run(['secrets', 'get', 'fleet/db', '--identity', alice.file])

    const cases: [string, Buffer][] = [
      [
        'a flipped payload byte',
        Buffer.from(good.map((b, i) => (i === good.length - 10 ? b ^ 1 : b))),
      ],
      ['a truncated file', good.subarray(0, good.length - 20)],
      ['a flipped recipient stanza', Buffer.from(good.map((b, i) => (i === 40 ? b ^ 1 : b)))],
      ['garbage', Buffer.from('not an age file')],
    ]
    for (const [what, bytes] of cases) {
      await writeFile(file, bytes)
      const result = await get()
      t.equal(result.code, 3, `${what}: integrity exit code`)
      t.equal(result.stdout.length, 0, `${what}: no partial output`)
      t.match(
        result.stderr,
        /^keystone: secrets\/fleet\/db\.age: damaged or tampered age file.*\n  hint: restore it from git/,
        what,
      )
    }
    await writeFile(file, good)
    t.equal((await get()).code, 0, 'the restored file opens again')

    const foreign = await run(['secrets', 'get', 'fleet/db', '--identity', mallory.file])
    t.equal(foreign.code, 6, 'not a recipient')
    t.match(foreign.stderr, /not encrypted to your identity/)
  },
)

t.test(
  'removing an admin or a host and rekeying locks them out, and says that git history still holds what they could read',
  { skip: skipAge },
  async (t) => {
    const { fleet, run } = await vaultFixture(t)
    const alice = await ageKeygen(fleet, 'alice')
    const bob = await ageKeygen(fleet, 'bob')
    const web1 = await ageKeygen(fleet, 'web1')
    const desk1 = await ageKeygen(fleet, 'desk1')
    t.equal((await run(['secrets', 'init', '--admin', 'alice', '--identity', alice.file])).code, 0)
    for (const [flag, name, key] of [
      ['--admin', 'bob', bob],
      ['--host', 'web1', web1],
      ['--host', 'desk1', desk1],
    ] as const) {
      t.equal((await run(['secrets', 'recipients', 'add', key.recipient, flag, name])).code, 0)
    }
    t.equal((await run(['secrets', 'set', 'fleet/s3'], { stdin: 'fleet-wide' })).code, 0)
    t.equal((await run(['secrets', 'set', 'web1/mesh-auth-key'], { stdin: 'only web1' })).code, 0)
    const read = async (who: { file: string }, secret: string) =>
      (await run(['secrets', 'get', secret, '--identity', who.file])).code

    t.equal(await read(web1, 'fleet/s3'), 0, 'a host reads fleet secrets')
    t.equal(await read(web1, 'web1/mesh-auth-key'), 0, 'and its own')
    t.equal(await read(desk1, 'web1/mesh-auth-key'), 6, 'but not another host’s')
    t.equal(await read(bob, 'web1/mesh-auth-key'), 0, 'admins read everything')

    t.equal((await run(['secrets', 'recipients', 'remove', '--admin', 'bob'])).code, 0)
    t.equal((await run(['secrets', 'recipients', 'remove', '--host', 'web1'])).code, 0)
    const listed = JSON.parse((await run(['secrets', 'list', '--json'])).stdout.toString()) as {
      needsRekey: boolean
    }[]
    t.ok(
      listed.every((row) => row.needsRekey),
      'list shows that the files lag behind the recipients',
    )
    // --dry-run: the same plan and warnings, as words and as data, and not a byte written.
    const vaultBytes = async () => {
      const dir = path.join(fleet, 'secrets')
      const files = (await readdir(dir, { recursive: true })).sort()
      return Promise.all(
        files.map(async (f) => [f, await readFile(path.join(dir, f)).catch(() => 'dir')]),
      )
    }
    const before = await vaultBytes()
    const dry = await run(['secrets', 'rekey', '--dry-run', '--identity', alice.file])
    t.equal(dry.code, 0, dry.stderr)
    t.match(dry.stdout.toString(), /^would rekey fleet\/s3 to admin:alice, host:desk1$/m)
    t.match(dry.stdout.toString(), /^would rekey web1\/mesh-auth-key to admin:alice$/m)
    t.match(dry.stdout.toString(), /2 secrets would be rekeyed; nothing was changed \(--dry-run\)/)
    t.equal(dry.stderr.trim().split('\n').length, 2, 'the same history warnings')
    const dryJson = await run(['secrets', 'rekey', '--dry-run', '--json', '--identity', alice.file])
    t.equal(dryJson.code, 0, dryJson.stderr)
    const plan = JSON.parse(dryJson.stdout.toString()) as {
      dryRun: boolean
      secrets: { secret: string; to: string[]; readable: boolean }[]
      dropped: { key: string; secrets: string[] }[]
    }
    t.same(
      plan.secrets.map((s) => [s.secret, s.to, s.readable]),
      [
        ['fleet/s3', ['admin:alice', 'host:desk1'], true],
        ['web1/mesh-auth-key', ['admin:alice'], true],
      ],
    )
    t.same(plan.dropped.map((d) => d.key).sort(), [bob.recipient, web1.recipient].sort())
    const rotateDry = await run([
      'secrets',
      'rotate',
      'fleet/s3',
      '--dry-run',
      '--identity',
      alice.file,
    ])
    t.equal(rotateDry.code, 0, rotateDry.stderr)
    t.match(
      rotateDry.stdout.toString(),
      /^would rotate fleet\/s3: a new random \S+ value, encrypted to admin:alice, host:desk1; .*nothing was changed \(--dry-run\)$/m,
    )
    t.same(await vaultBytes(), before, 'dry runs wrote nothing in secrets/')
    t.equal(await read(web1, 'fleet/s3'), 0, 'the removed host still reads until the real rekey')

    const rekey = await run(['secrets', 'rekey', '--identity', alice.file])
    t.equal(rekey.code, 0, rekey.stderr)
    t.match(rekey.stdout.toString(), /2 secrets rekeyed/)
    const warnings = rekey.stderr.trim().split('\n')
    t.equal(warnings.length, 2, 'one line for each removed recipient')
    for (const [who, key] of [
      ['bob', bob],
      ['web1', web1],
    ] as const) {
      const line = warnings.find((w) => w.includes(key.recipient.slice(0, 12)))
      t.match(
        line,
        /can still read these 2 values from git history: fleet\/s3, web1\/mesh-auth-key; replace each with `keystone secrets rotate <secret>`/,
        `${who}: what git history still opens, and the command that replaces it`,
      )
    }

    t.equal(await read(bob, 'fleet/s3'), 6, 'a removed admin reads nothing after the rekey')
    t.equal(await read(web1, 'fleet/s3'), 6, 'a removed host neither')
    t.equal(await read(web1, 'web1/mesh-auth-key'), 6)
    t.equal(await read(desk1, 'fleet/s3'), 0, 'the remaining host still reads fleet secrets')
    t.equal(await read(alice, 'web1/mesh-auth-key'), 0)
    const again = await run(['secrets', 'rekey', '--identity', alice.file])
    t.match(again.stdout.toString(), /0 secrets rekeyed/, 'a second rekey has nothing to do')

    // An admin who cannot read a secret rekeys the rest and names what is left.
    t.equal((await run(['secrets', 'recipients', 'add', bob.recipient, '--admin', 'bob'])).code, 0)
    const byBobDry = await run(['secrets', 'rekey', '--dry-run', '--identity', bob.file])
    t.equal(byBobDry.code, 6, 'a dry run names the same secrets, with the same exit code')
    t.match(byBobDry.stderr, /2 secrets are not encrypted to you and cannot be rekeyed by you/)
    const byBob = await run(['secrets', 'rekey', '--identity', bob.file])
    t.equal(byBob.code, 6)
    t.match(
      byBob.stderr,
      /2 secrets are not encrypted to you and could not be rekeyed: fleet\/s3, web1\/mesh-auth-key/,
    )
  },
)

t.test(
  'values never come from argv, and nothing is left in plaintext',
  { skip: skipAge },
  async (t) => {
    const { fleet, run } = await vaultFixture(t)
    const alice = await ageKeygen(fleet, 'alice')
    t.equal((await run(['secrets', 'init', '--admin', 'alice', '--identity', alice.file])).code, 0)
    const argv = await run(['secrets', 'set', 'fleet/x', 'hunter2-in-argv'])
    t.equal(argv.code, 2, 'a value on the command line is a usage error')
    t.equal(
      (await run(['secrets', 'list', '--json'])).stdout.toString().trim(),
      '[]',
      'and nothing was stored',
    )

    const secret = 'PLAINTEXT-CANARY-7f3a9c'
    t.equal((await run(['secrets', 'set', 'fleet/canary'], { stdin: secret })).code, 0)
    t.equal((await run(['secrets', 'rekey', '--all', '--identity', alice.file])).code, 0)
    const { stdout } = await exec('grep', ['-rl', secret, fleet]).catch(
      (error: { stdout: string }) => error,
    )
    t.equal(stdout, '', 'the fleet directory holds the value only encrypted')
    const list = await run(['secrets', 'list'])
    t.match(list.stdout.toString(), /fleet\/canary\s+other\s+0d\s+admin:alice/)
    t.notMatch(list.stdout.toString() + list.stderr, secret)
  },
)
