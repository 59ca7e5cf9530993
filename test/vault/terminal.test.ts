import path from 'node:path'
import t from 'tap'
import { needs } from '../helpers/needs.js'
import { onTerminal } from '../helpers/terminal.js'
import { repoRoot } from '../helpers/temp-fleet.js'
import { vaultWithAdmin } from '../helpers/vault-cli.js'

// `secrets set` on a real pseudo-terminal (script(1)): the value is asked twice, never echoed.
const mainJs = path.join(repoRoot, 'dist/cli/main.js')
const skip = needs('script', ['--version'])

t.test('set asks for the value twice on a terminal and never shows it', { skip }, async (t) => {
  const { fleet, config, get } = await vaultWithAdmin(t)
  const env = { XDG_CONFIG_HOME: config }
  const typed = await onTerminal(
    `node ${mainJs} secrets set fleet/typed`,
    [
      { after: 'Secret value:', type: 'hunter2-typed-value' },
      { after: 'Repeat the value:', type: 'hunter2-typed-value' },
    ],
    { cwd: fleet, env },
  )
  t.equal(typed.code, 0, typed.screen)
  t.match(typed.screen, 'Secret value:')
  t.match(typed.screen, 'Repeat the value:')
  t.notMatch(typed.screen, 'hunter2', 'nothing typed is echoed')
  t.equal(await get('fleet/typed'), 'hunter2-typed-value')

  const differ = await onTerminal(
    `node ${mainJs} secrets set fleet/other`,
    [
      { after: 'Secret value:', type: 'one-value' },
      { after: 'Repeat the value:', type: 'another-value' },
    ],
    { cwd: fleet, env },
  )
  t.not(differ.code, 0)
  t.match(differ.screen, /keystone: the two values differ/)
})
