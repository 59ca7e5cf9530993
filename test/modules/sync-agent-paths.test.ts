import { execFile } from 'node:child_process'
import { chown, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { emitNix } from '../../cli/nix/emit.js'
import { needs } from '../helpers/needs.js'
import { evalNixText } from '../helpers/nix.js'

// modules/sync-agent/writable-paths.nix, the paths the agent writes beyond its state directory
// (ReadWritePaths=) and the tmpfiles rules that make them exist before it starts: a missing
// ReadWritePaths= entry fails the unit with 226/NAMESPACE (systemd.exec(5), as shipped with
// systemd 252.39: man/systemd.exec.xml lines 1524–1525, "may be prefixed with -, in which case
// they will be ignored when they do not exist", and lines 3989–3991, exit code 226), and under
// ProtectSystem=strict the agent cannot make it. Evaluated by the real nix-instantiate; the rules
// applied by the real systemd-tmpfiles in a root of their own.
const run = promisify(execFile)
const file = path.resolve(import.meta.dirname, '../../modules/sync-agent/writable-paths.nix')
const skip = needs('nix-instantiate') || needs('systemd-tmpfiles')

interface Writable {
  readWritePaths: string[]
  tmpfilesRules: string[]
}
const writable = (store: string, paths: { path: string; mode: string }[]) =>
  evalNixText(`import ${file} ${emitNix({ store, paths })}`) as Promise<Writable>

async function applyRules(t: Test, rules: string[], prepare?: (root: string) => Promise<void>) {
  const root = await mkdtemp(path.join(tmpdir(), 'keystone-tmpfiles-'))
  t.teardown(() => rm(root, { recursive: true, force: true }))
  await prepare?.(root)
  const conf = path.join(root, 'keystone-sync-agent.conf')
  await writeFile(conf, rules.join('\n') + '\n')
  const { stderr } = await run('systemd-tmpfiles', ['--create', `--root=${root}`, conf])
  return { root, stderr }
}
const modeOf = async (file: string) => {
  const s = await stat(file)
  return { mode: (s.mode & 0o7777).toString(8), uid: s.uid, gid: s.gid, dir: s.isDirectory() }
}

t.test(
  'hosts/storage1’s folder store is made 0700 root before the agent starts',
  { skip },
  async (t) => {
    const result = await writable('file:///srv/backups/keystone', [
      { path: '/var/lib/important', mode: 'backup' },
    ])
    t.same(result.readWritePaths, ['/srv/backups/keystone'])
    t.same(result.tmpfilesRules, ['d "/srv/backups/keystone" 0700 root root -'])
    const { root, stderr } = await applyRules(t, result.tmpfilesRules)
    t.equal(stderr, '', 'systemd-tmpfiles takes the rules without a word')
    t.same(await modeOf(path.join(root, 'srv/backups/keystone')), {
      mode: '700',
      uid: 0,
      gid: 0,
      dir: true,
    })
    t.same((await modeOf(path.join(root, 'srv/backups'))).dir, true, 'parents too')
  },
)

t.test('a two-way path is made when missing and left as it is when there', { skip }, async (t) => {
  const result = await writable('s3://fleet/keystone', [
    { path: '/srv/shared', mode: 'two-way' },
    { path: '/home/alice/notes', mode: 'two-way' },
    { path: '/etc', mode: 'backup' },
  ])
  t.same(result.readWritePaths, ['/srv/shared', '/home/alice/notes'], 'an S3 store is not a path')
  const { root } = await applyRules(t, result.tmpfilesRules, async (root) => {
    await mkdir(path.join(root, 'home/alice/notes'), { recursive: true, mode: 0o750 })
    await chown(path.join(root, 'home/alice/notes'), 1000, 1000)
  })
  t.same(await modeOf(path.join(root, 'srv/shared')), { mode: '755', uid: 0, gid: 0, dir: true })
  t.same(
    await modeOf(path.join(root, 'home/alice/notes')),
    { mode: '750', uid: 1000, gid: 1000, dir: true },
    'the admin’s directory keeps its mode and owner',
  )
})

t.test('a path with spaces, quotes or a % is the path tmpfiles creates', { skip }, async (t) => {
  const odd = '/srv/a b/"q" 100%h\\x'
  const result = await writable(`file://${odd}`, [{ path: '/srv/x y', mode: 'two-way' }])
  t.same(result.readWritePaths, ['/srv/x y', odd])
  const { root, stderr } = await applyRules(t, result.tmpfilesRules)
  t.equal(stderr, '')
  t.same(
    (await modeOf(path.join(root, odd))).mode,
    '700',
    'no specifier expanded, nothing unescaped',
  )
  t.ok((await modeOf(path.join(root, 'srv/x y'))).dir)
})

t.test('only backup paths: nothing to write, nothing to create', { skip }, async (t) => {
  t.same(await writable('s3://fleet/k', [{ path: '/etc', mode: 'backup' }]), {
    fileStore: [],
    twoWay: [],
    readWritePaths: [],
    tmpfilesRules: [],
  })
})
