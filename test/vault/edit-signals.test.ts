import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, lstat, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { needs } from '../helpers/needs.js'
import { repoRoot } from '../helpers/temp-fleet.js'
import { vaultWithAdmin } from '../helpers/vault-cli.js'

// `keystone secrets edit` interrupted: by SIGINT, SIGTERM or SIGHUP to Keystone, by its editor
// dying or failing, and by SIGKILL, which no handler sees. The built CLI runs for real with an
// editor stand-in that holds the decrypted file open until it is stopped; afterwards the
// plaintext is searched for, byte for byte, in /dev/shm, the temporary directory and the repo.
const skip = needs('age', ['--version'])
const mainJs = path.join(repoRoot, 'dist/cli/main.js')

// Files under `dir` (not following symlinks, none over 1 MiB) that contain `needle`.
async function holding(dir: string, needle: Buffer, depth = 4): Promise<string[]> {
  const found: string[] = []
  const names = await readdir(dir).catch(() => [])
  for (const name of names) {
    const file = path.join(dir, name)
    const info = await lstat(file).catch(() => undefined)
    if (info === undefined) continue
    if (info.isDirectory() && depth > 0 && name !== 'node_modules' && name !== '.git')
      found.push(...(await holding(file, needle, depth - 1)))
    else if (info.isFile() && info.size <= 1 << 20) {
      const content = await readFile(file).catch(() => undefined)
      if (content?.includes(needle)) found.push(file)
    }
  }
  return found
}

const places = (fleet: string) => [...new Set(['/dev/shm', tmpdir(), repoRoot, fleet])]
async function plaintextLeft(fleet: string, secret: Buffer): Promise<string[]> {
  return (await Promise.all(places(fleet).map((dir) => holding(dir, secret)))).flat()
}

async function setup(t: Test, editorBody: string) {
  const fixture = await vaultWithAdmin(t)
  const secret = Buffer.from(`plaintext-${randomBytes(16).toString('hex')}`)
  const set = await fixture.run(['secrets', 'set', 'fleet/token'], { stdin: secret })
  t.equal(set.code, 0, set.stderr)
  const work = await mkdtemp(path.join(tmpdir(), 'keystone-editor-'))
  t.teardown(() => rm(work, { recursive: true, force: true }))
  const ready = path.join(work, 'ready')
  const editor = path.join(work, 'editor.sh')
  // The stand-in keeps the file open on descriptor 3 and says where it is and who it is.
  await writeFile(
    editor,
    `#!/bin/sh\nexec 3<"$1"\nprintf '%s %s\\n' "$$" "$1" > ${JSON.stringify(ready)}.new\nmv ${JSON.stringify(ready)}.new ${JSON.stringify(ready)}\n${editorBody}\n`,
  )
  await chmod(editor, 0o755)
  const child = spawn(
    process.execPath,
    [mainJs, 'secrets', 'edit', 'fleet/token', '--identity', fixture.key],
    {
      cwd: fixture.fleet,
      env: {
        ...process.env,
        XDG_CONFIG_HOME: fixture.config,
        XDG_RUNTIME_DIR: fixture.memory,
        KEYSTONE_FLEET: '',
        VISUAL: '',
        EDITOR: editor,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  )
  // The editor has the file: its PID and the file's path.
  const editing = async () => {
    for (let waited = 0; !existsSync(ready); waited += 20) {
      if (waited > 20_000) throw new Error(`the editor never started: ${stderr}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const [pid, file] = (await readFile(ready, 'utf8')).trim().split(' ')
    return { pid: Number(pid), file: file! }
  }
  return { ...fixture, secret, child, exited, editing, stderr: () => stderr }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
  t.test(
    `${signal} to keystone during secrets edit: the plaintext is removed and it exits 130`,
    { skip },
    async (t) => {
      const edit = await setup(t, 'exec sleep 60')
      const editor = await edit.editing()
      t.same(
        await readFile(editor.file),
        edit.secret,
        'the editor holds the decrypted value (where the search below looks)',
      )
      edit.child.kill(signal)
      const { code } = await edit.exited
      t.equal(code, 130, 'exit 130, as a shell reports an interrupted command')
      t.match(edit.stderr(), new RegExp(`interrupted \\(${signal}\\)`))
      t.notOk(edit.stderr().includes('    at '), 'no stack trace')
      t.notOk(alive(editor.pid), 'the editor was stopped')
      t.notOk(existsSync(path.dirname(editor.file)), 'the private directory is gone')
      t.same(await plaintextLeft(edit.fleet, edit.secret), [], 'no plaintext anywhere')
      t.same(
        await edit
          .run(['secrets', 'get', 'fleet/token', '--identity', edit.key])
          .then((r) => r.stdout),
        edit.secret,
        'the stored value is unchanged',
      )
    },
  )

t.test('an editor that exits non-zero or dies: the plaintext is removed', { skip }, async (t) => {
  const failing = await setup(t, 'exit 3')
  const failed = await failing.exited
  t.equal(failed.code, 1)
  t.match(failing.stderr(), /the editor exited with 3; fleet\/token is unchanged/)
  t.same(await plaintextLeft(failing.fleet, failing.secret), [])

  const dying = await setup(t, 'exec sleep 60')
  const editor = await dying.editing()
  process.kill(editor.pid, 'SIGKILL')
  const died = await dying.exited
  t.equal(died.code, 1)
  t.match(dying.stderr(), /the editor was killed by SIGKILL; fleet\/token is unchanged/)
  t.notOk(existsSync(path.dirname(editor.file)), 'the private directory is gone')
  t.same(await plaintextLeft(dying.fleet, dying.secret), [])
})

t.test(
  'after a SIGKILL no handler sees, the next keystone secrets command removes the stale copy and says so',
  { skip },
  async (t) => {
    const edit = await setup(t, 'exec sleep 60')
    const editor = await edit.editing()
    edit.child.kill('SIGKILL')
    t.equal((await edit.exited).signal, 'SIGKILL')
    process.kill(editor.pid, 'SIGKILL')
    t.ok(existsSync(editor.file), 'SIGKILL left the decrypted copy behind')

    const list = await edit.run(['secrets', 'list'])
    t.equal(list.code, 0, list.stderr)
    const dir = path.dirname(editor.file)
    t.match(list.stderr, `removed ${dir}, left in memory by a Keystone process that was killed`)
    t.equal(list.stderr.trim().split('\n').length, 1, 'in one line')
    t.notOk(existsSync(dir), 'the stale directory is gone')
    t.same(await plaintextLeft(edit.fleet, edit.secret), [], 'no plaintext anywhere')

    const again = await edit.run(['secrets', 'list'])
    t.equal(again.stderr, '', 'nothing more to remove')
  },
)
