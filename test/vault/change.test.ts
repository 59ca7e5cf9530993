import { execFile } from 'node:child_process'
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { needs } from '../helpers/needs.js'
import { runKeystone, vaultWithAdmin } from '../helpers/vault-cli.js'

// rotate and edit through the built CLI, with a recording editor: what the editor process saw
// (argv, environment) and every temporary directory must be free of the secret value.
const exec = promisify(execFile)
const skip = needs('age', ['--version'])

t.test(
  'rotate makes a new value of the kind and keeps the old one until confirmed',
  { skip },
  async (t) => {
    const { fleet, run, key, get } = await vaultWithAdmin(t)
    t.equal(
      (
        await run(['secrets', 'set', 'web1/luks', '--kind', 'passphrase'], {
          stdin: 'old-passphrase',
        })
      ).code,
      0,
    )
    const rotate = await run(['secrets', 'rotate', 'web1/luks', '--identity', key])
    t.equal(rotate.code, 0, rotate.stderr)
    const value = await get('web1/luks')
    t.match(
      value,
      /^[cbdefghijklnrtuv]{8}(-[cbdefghijklnrtuv]{8}){7}$/,
      'a typeable 256-bit passphrase, no newline',
    )
    t.not(value, 'old-passphrase')
    const previous = path.join(fleet, 'secrets/web1/luks.previous.age')
    const { stdout } = await exec('age', ['-d', '-i', key, previous])
    t.equal(stdout, 'old-passphrase', 'the previous value is kept, encrypted')
    t.match(
      (await run(['secrets', 'list'])).stdout.toString(),
      /web1\/luks\s+passphrase\s+0d\s+admin:alice\s+\(previous value kept until the next deploy\)/,
    )
    t.same(
      (
        JSON.parse((await run(['secrets', 'list', '--json'])).stdout.toString()) as {
          secret: string
        }[]
      ).map((r) => r.secret),
      ['web1/luks'],
      'the kept value is not listed as a secret of its own',
    )

    // deploy confirms the new value (the vault function it calls)
    const { confirmRotation } = await import('../../cli/vault/store.js')
    t.equal(await confirmRotation(fleet, { scope: 'web1', name: 'luks' }), true)
    await t.rejects(stat(previous))
    t.equal(
      await confirmRotation(fleet, { scope: 'web1', name: 'luks' }),
      false,
      'confirming twice is harmless',
    )

    t.equal(
      (await run(['secrets', 'set', 'fleet/s3', '--kind', 's3-credentials'], { stdin: 'AKIA:x' }))
        .code,
      0,
    )
    const refused = await run(['secrets', 'rotate', 'fleet/s3', '--identity', key])
    t.equal(refused.code, 1)
    t.match(
      refused.stderr,
      /cannot make a new value of kind s3-credentials\n  hint: get a new value where it is issued/,
    )
    t.equal(await get('fleet/s3'), 'AKIA:x', 'a refused rotation changes nothing')
  },
)

t.test(
  'edit goes through a private in-memory file the editor sees only by path',
  { skip },
  async (t) => {
    const { fleet, config, key, run, get } = await vaultWithAdmin(t)
    const secret = 'EDIT-CANARY-41c2'
    t.equal(
      (await run(['secrets', 'set', 'fleet/token', '--kind', 'token'], { stdin: secret })).code,
      0,
    )

    // The editor records its argv, environment, the file's mode and directory, then edits.
    const log = await mkdtemp(path.join(tmpdir(), 'keystone-editor-'))
    t.teardown(() => rm(log, { recursive: true, force: true }))
    const editor = path.join(log, 'editor.sh')
    await writeFile(
      editor,
      `#!/bin/sh\nprintf '%s\\n' "$0" "$@" > ${log}/argv\nenv > ${log}/env\nstat -c '%a' "$1" > ${log}/mode\ndirname "$1" > ${log}/dir\nsed -i 's/41c2/9999/' "$1"\n`,
    )
    await chmod(editor, 0o755)
    const tmpBefore = new Set(await readdir(tmpdir()))
    const shmBefore = new Set(await readdir('/dev/shm'))
    // No $XDG_RUNTIME_DIR: the shared /dev/shm (private-memory.test.ts covers the other choice).
    const edit = await runKeystone(['secrets', 'edit', 'fleet/token', '--identity', key], {
      cwd: fleet,
      config,
      env: { EDITOR: editor, XDG_RUNTIME_DIR: '' },
    })
    t.equal(edit.code, 0, edit.stderr)
    t.equal(await get('fleet/token'), 'EDIT-CANARY-9999')

    const argv = await readFile(path.join(log, 'argv'), 'utf8')
    t.notMatch(argv, secret, 'the value is not in the editor’s argv')
    t.notMatch(await readFile(path.join(log, 'env'), 'utf8'), secret, 'nor in its environment')
    t.equal((await readFile(path.join(log, 'mode'), 'utf8')).trim(), '600')
    const dir = (await readFile(path.join(log, 'dir'), 'utf8')).trim()
    t.match(dir, /^\/dev\/shm\/keystone-/, 'the copy lives in memory, not in /tmp')
    await t.rejects(stat(dir), 'and is gone afterwards')
    t.same(
      [...(await readdir('/dev/shm'))].filter((f) => !shmBefore.has(f)),
      [],
      'nothing left in /dev/shm',
    )
    const newTmp = (await readdir(tmpdir())).filter(
      (f) => !tmpBefore.has(f) && f.startsWith('keystone-') && !f.startsWith('keystone-editor-'),
    )
    for (const entry of newTmp) {
      const { stdout } = await exec('grep', [
        '-rl',
        'EDIT-CANARY',
        path.join(tmpdir(), entry),
      ]).catch((e: { stdout: string }) => e)
      t.equal(stdout, '', `${entry} holds no plaintext`)
    }

    // An editor that fails leaves the secret unchanged.
    const failing = await runKeystone(['secrets', 'edit', 'fleet/token', '--identity', key], {
      cwd: fleet,
      config,
      env: { EDITOR: 'false' },
    })
    t.equal(failing.code, 1)
    t.match(failing.stderr, /the editor exited with 1; fleet\/token is unchanged/)
    t.equal(await get('fleet/token'), 'EDIT-CANARY-9999')
  },
)
