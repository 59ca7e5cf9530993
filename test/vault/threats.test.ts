import { execFile } from 'node:child_process'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { needs } from '../helpers/needs.js'
import { repoRoot } from '../helpers/temp-fleet.js'
import { vaultWithAdmin } from '../helpers/vault-cli.js'
import { writeSecret } from '../../cli/vault/store.js'
import { loadRecipients } from '../../cli/vault/recipients.js'

// The threat model's exposures, checked on real processes: strace records every program started
// (argv and environment) while the vault works; the temporary directories and the fleet are
// searched afterwards. Each run uses a fresh canary value.
const exec = promisify(execFile)
const mainJs = path.join(repoRoot, 'dist/cli/main.js')
const skip = needs('strace', ['-V']) || needs('age', ['--version'])

t.test(
  'set, edit, rotate and rekey never put a value in argv, the environment or /tmp',
  { skip },
  async (t) => {
    const { fleet, config, run, key } = await vaultWithAdmin(t)
    const work = await mkdtemp(path.join(tmpdir(), 'keystone-threats-'))
    t.teardown(() => rm(work, { recursive: true, force: true }))
    const canary = 'CANARY-' + Math.random().toString(36).slice(2)
    const editor = path.join(work, 'editor.sh')
    await writeFile(editor, `#!/bin/sh\nsed -i 's/$/-edited/' "$1"\n`, { mode: 0o755 })
    const valueFile = path.join(work, 'value')
    await writeFile(valueFile, canary)

    const tmpBefore = new Set(await readdir(tmpdir()))
    const trace = path.join(work, 'trace')
    // -f follows children, -v prints environments in full, -s keeps long strings whole.
    const steps = [
      `node ${mainJs} secrets set fleet/token --kind token < ${valueFile}`,
      `EDITOR=${editor} node ${mainJs} secrets edit fleet/token --identity ${key}`,
      `node ${mainJs} secrets set fleet/luks --kind passphrase < ${valueFile}`,
      `node ${mainJs} secrets rotate fleet/luks --identity ${key}`,
      `node ${mainJs} secrets rekey --all --identity ${key}`,
    ]
    for (const [i, step] of steps.entries()) {
      await exec(
        'strace',
        ['-f', '-v', '-s', '65536', '-e', 'trace=execve', '-o', `${trace}.${i}`, 'sh', '-c', step],
        {
          cwd: fleet,
          env: { ...process.env, XDG_CONFIG_HOME: config },
        },
      )
    }
    const rotated = (
      await run(['secrets', 'get', 'fleet/luks', '--identity', key])
    ).stdout.toString()
    t.match(rotated, /^[a-z-]{71}$/)
    t.equal(
      (await run(['secrets', 'get', 'fleet/token', '--identity', key])).stdout.toString(),
      `${canary}-edited`,
    )

    const traces = await Promise.all(steps.map((_, i) => readFile(`${trace}.${i}`, 'utf8')))
    t.ok(
      traces.every((text) => text.includes('execve(')),
      'strace recorded the programs',
    )
    t.ok(traces[1]!.includes(editor), 'including the editor')
    for (const value of [canary, `${canary}-edited`, rotated]) {
      t.notOk(
        traces.some((text) => text.includes(value)),
        'no recorded argv or environment holds a secret value',
      )
    }
    const newTmp = (await readdir(tmpdir())).filter(
      (entry) => !tmpBefore.has(entry) && entry !== path.basename(work),
    )
    for (const entry of newTmp) {
      const found = await exec('grep', ['-rlF', canary, path.join(tmpdir(), entry)]).catch(
        (e: { stdout: string }) => e,
      )
      t.equal(found.stdout, '', `${entry} holds no plaintext`)
    }
    const inFleet = await exec('grep', [
      '-rlF',
      '-e',
      canary,
      '-e',
      rotated,
      fleet,
      '--exclude=alice.key',
    ]).catch((e: { stdout: string }) => e)
    t.equal(inFleet.stdout, '', 'git would only ever see ciphertext')
  },
)

t.test(
  'a new secret from memory (a recovery key) is stored without touching disk in plaintext',
  { skip },
  async (t) => {
    const { fleet, run, key } = await vaultWithAdmin(t)
    const recovery = 'fjbkrhcv-ddnlkfdb-jgtvtruk-kgtvbfhr-ldbfkjhe-nhncjjvk-kcgbtcrr-ffnecifr'
    await writeSecret(
      fleet,
      loadRecipients(fleet),
      { scope: 'web1', name: 'recovery-key' },
      Buffer.from(recovery),
      {
        kind: 'recovery-key',
      },
    )
    const found = await exec('grep', ['-rlF', recovery, fleet]).catch((e: { stdout: string }) => e)
    t.equal(found.stdout, '')
    t.equal(
      (await run(['secrets', 'get', 'web1/recovery-key', '--identity', key])).stdout.toString(),
      recovery,
    )
  },
)

t.test(
  'get refuses to print to a terminal unless told to',
  { skip: needs('script', ['--version']) },
  async (t) => {
    const { fleet, config, run, key } = await vaultWithAdmin(t)
    t.equal((await run(['secrets', 'set', 'fleet/token'], { stdin: 'on-screen-canary' })).code, 0)
    // script(1) gives the command a pseudo-terminal as standard output.
    const onTty = (extra: string) =>
      exec(
        'script',
        ['-qec', `node ${mainJs} secrets get fleet/token --identity ${key} ${extra}`, '/dev/null'],
        {
          cwd: fleet,
          env: { ...process.env, XDG_CONFIG_HOME: config },
        },
      ).catch((e: { code: number; stdout: string }) => e)
    const refused = (await onTty('')) as { code?: number; stdout: string }
    t.equal(refused.code, 2)
    t.match(refused.stdout, /not printing fleet\/token to a terminal/)
    t.notMatch(refused.stdout, /on-screen-canary/)
    const revealed = (await onTty('--reveal')) as { stdout: string }
    t.match(revealed.stdout, /on-screen-canary/)
  },
)
