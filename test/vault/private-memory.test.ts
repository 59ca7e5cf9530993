import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { makePrivateDir, memoryDir, removePrivateDir } from '../../cli/vault/private-file.js'

// Where a decrypted copy goes: $XDG_RUNTIME_DIR only when it is this user's own memory file
// system, else /dev/shm — never a directory on disk or one other users can enter. Real
// directories on this machine's /dev/shm (tmpfs) and temporary directory.
t.test('$XDG_RUNTIME_DIR on tmpfs, mode 0700, owned by this user, is chosen', async (t) => {
  const runtime = await mkdtemp('/dev/shm/test-keystone-runtime-')
  t.teardown(() => rm(runtime, { recursive: true, force: true }))
  t.equal(memoryDir(runtime), runtime)
  const dir = await makePrivateDir(runtime, 'edit-')
  t.equal(path.dirname(dir), runtime, 'the private directory is made inside it')
  await removePrivateDir(dir)
})

t.test('a runtime directory other users can enter is passed over for /dev/shm', async (t) => {
  const runtime = await mkdtemp('/dev/shm/test-keystone-runtime-')
  t.teardown(() => rm(runtime, { recursive: true, force: true }))
  await chmod(runtime, 0o755)
  t.equal(memoryDir(runtime), '/dev/shm')
})

t.test('a runtime directory on disk, or one that is missing, is passed over too', async (t) => {
  const onDisk = await mkdtemp(path.join(process.cwd(), '.test-keystone-runtime-'))
  t.teardown(() => rm(onDisk, { recursive: true, force: true }))
  t.equal(memoryDir(onDisk), '/dev/shm', `${onDisk} is not a memory file system`)
  t.equal(memoryDir(path.join(tmpdir(), 'no-such-runtime-dir')), '/dev/shm')
  t.equal(memoryDir(undefined), '/dev/shm')
  t.equal(memoryDir(''), '/dev/shm')
})
