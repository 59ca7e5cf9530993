import t from 'tap'
import { stoppedWith, type UnitGraph } from '../helpers/unit-graph.js'

// The stop walk that the initrd and sync-agent unit tests rely on, held to systemd 252.39's own
// rules (src/core/unit-dependency-atom.c lines 44–84, cited in test/helpers/unit-graph.ts): each
// dependency type that propagates a stop is followed, and those that do not are not.
const graph = (units: Record<string, Record<string, string[]>>): UnitGraph =>
  new Map(
    Object.entries(units).map(([unit, directives]) => [unit, new Map(Object.entries(directives))]),
  )

t.test(
  'a stop reaches the units that name the stopped one in each stop-propagating directive',
  async (t) => {
    for (const key of ['Requires', 'Requisite', 'BindsTo', 'PartOf', 'StopPropagatedFrom']) {
      const stopped = stoppedWith(
        graph({ 'a.service': {}, 'b.service': { [key]: ['a.service'] } }),
        ['a.service'],
      )
      t.equal(stopped.get('b.service'), `a.service → b.service (${key}=a.service)`, key)
    }
  },
)

t.test('PropagatesStopTo= carries the stop forward, to the unit it names', async (t) => {
  const stopped = stoppedWith(
    graph({ 'a.service': { PropagatesStopTo: ['b.service'] }, 'b.service': {} }),
    ['a.service'],
  )
  t.equal(stopped.get('b.service'), 'a.service → b.service (PropagatesStopTo= of a.service)')
})

t.test(
  'Wants=, After= and Before= carry no stop, and Requires= carries none backwards',
  async (t) => {
    const stopped = stoppedWith(
      graph({
        'a.service': { Requires: ['c.service'] },
        'b.service': { Wants: ['a.service'], After: ['a.service'], Before: ['a.service'] },
        'c.service': {},
      }),
      ['a.service'],
    )
    t.same([...stopped.keys()], ['a.service'])
  },
)

t.test('the stop is followed through a chain, and the path names every step', async (t) => {
  const stopped = stoppedWith(
    graph({
      'etc-credstore.mount': {},
      'load-key.service': { Requires: ['etc-credstore.mount'] },
      'sysroot.mount': { BindsTo: ['load-key.service'] },
    }),
    ['etc-credstore.mount'],
  )
  t.equal(
    stopped.get('sysroot.mount'),
    'etc-credstore.mount → load-key.service (Requires=etc-credstore.mount) → sysroot.mount (BindsTo=load-key.service)',
  )
})
