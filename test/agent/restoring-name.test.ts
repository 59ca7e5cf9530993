import t from 'tap'
import { restoringName } from '../../cli/agent/workers/restoring-name.js'

// The main thread and the restore workers make a file's temporary name from its manifest path
// alone: hidden, beside the real name, and marked with the run.
t.test('the restoring name sits beside the real one, hidden and marked with the run', async (t) => {
  const names = { base: '/restore/target/', run: '0a1b2c3d' }
  t.equal(
    restoringName(names, 'home/ada/notes.txt'),
    '/restore/target/home/ada/.notes.txt.0a1b2c3d.restoring',
  )
  t.equal(restoringName(names, 'top'), '/restore/target/.top.0a1b2c3d.restoring')
  t.equal(
    restoringName(names, 'a/.hidden'),
    '/restore/target/a/..hidden.0a1b2c3d.restoring',
    'a hidden file keeps its own dot',
  )
})
