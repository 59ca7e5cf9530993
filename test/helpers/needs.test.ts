import t from 'tap'
import { needs } from './needs.js'

function setRequireAll(t: { teardown(fn: () => void): void }, value: string) {
  const saved = process.env.KEYSTONE_REQUIRE_ALL
  t.teardown(() => {
    if (saved === undefined) delete process.env.KEYSTONE_REQUIRE_ALL
    else process.env.KEYSTONE_REQUIRE_ALL = saved
  })
  process.env.KEYSTONE_REQUIRE_ALL = value
}

// The gate itself must be honest: a missing tool skips with a reason on a laptop, and fails CI.
t.test('a missing tool skips with the reason when not every tool is required', async (t) => {
  setRequireAll(t, '')
  t.equal(needs('keystone-no-such-tool'), 'skipped: keystone-no-such-tool is not installed')
  t.equal(needs('node'), false)
})

t.test('a missing tool fails under KEYSTONE_REQUIRE_ALL=1', async (t) => {
  setRequireAll(t, '1')
  t.throws(() => needs('keystone-no-such-tool'), /KEYSTONE_REQUIRE_ALL=1 but keystone-no-such-tool is not installed/)
})
