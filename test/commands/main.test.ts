import t from 'tap'
import { keystone } from '../helpers/temp-fleet.js'

t.test('--help lists every command with a description and examples', async (t) => {
  const { code, stdout } = await keystone(['--help'])
  t.equal(code, 0)
  for (const command of ['host <command>', 'generate [hosts..]', 'check', 'completion']) {
    t.match(stdout, `keystone ${command}`, `lists ${command}`)
  }
  t.match(stdout, /Examples:/)
  t.match(stdout, /keystone generate --all/)
})

t.test('a usage error exits 2 with the usage line and no stack trace', async (t) => {
  for (const args of [['frobnicate'], [], ['generate'], ['host', 'new']]) {
    const { code, stderr } = await keystone(args)
    t.equal(code, 2, `keystone ${args.join(' ')} exits 2`)
    t.match(stderr, /^keystone: /)
    t.notMatch(stderr, /\n\s+at /, 'no stack trace')
  }
})

t.test('an unknown host is a failure with the known hosts as hint', async (t) => {
  const { code, stderr } = await keystone(['generate', 'nope'])
  t.equal(code, 1)
  t.equal(stderr, 'keystone: no host named `nope` in hosts/\n  hint: known hosts: desk1, storage1, web1\n')
})

t.test('completion prints a shell script for keystone', async (t) => {
  const { code, stdout } = await keystone(['completion'])
  t.equal(code, 0)
  t.match(stdout, /keystone/)
  t.match(stdout, /complete|compdef/)
})

t.test('KEYSTONE_DEBUG=1 adds the stack trace to a user error', async (t) => {
  const { stderr } = await keystone(['generate', 'nope'], { env: { KEYSTONE_DEBUG: '1' } })
  t.match(stderr, /\n\s+at /)
})
