import t from 'tap'
import { merge3, type SyncItem } from '../../cli/agent/sync/merge.js'

// The plan of a sync round as data (cli/agent/sync/merge.ts): three trees — the last state this
// device agreed with (base), this device now (local), the folder's newest head (remote) — become
// the new state, the actions that bring this device to it, and the conflict copies, named. The
// cases are those two devices go through in test/agent/two-way.test.ts, without disk or store;
// the executor that does the actions is cli/agent/sync/apply-action.ts.
const T = Date.UTC(2026, 11, 7, 10, 41, 7)
const f = (key: string, mtimeMs = T): SyncItem => ({ type: 'file', key, mtimeMs })
const d = (): SyncItem => ({ type: 'dir', key: 'd', mtimeMs: 0 })
const tree = (entries: Record<string, SyncItem>) => new Map(Object.entries(entries))
const plan = (
  base: Record<string, SyncItem>,
  local: Record<string, SyncItem>,
  remote: Record<string, SyncItem>,
  held: string[] = [],
) => {
  const m = merge3(tree(base), tree(local), tree(remote), { host: 'beta', held: new Set(held) })
  return { result: Object.fromEntries(m.result), actions: m.actions, conflicts: m.conflicts }
}

t.test('a new file on the other device is written here', async (t) => {
  t.same(plan({}, {}, { 'plan.txt': f('v1') }), {
    result: { 'plan.txt': f('v1') },
    actions: [{ kind: 'write', path: 'plan.txt', entry: f('v1') }],
    conflicts: [],
  })
})

t.test(
  'an edit there replaces the unchanged file here; an edit here is only published',
  async (t) => {
    t.same(plan({ a: f('v1') }, { a: f('v1') }, { a: f('v2') }), {
      result: { a: f('v2') },
      actions: [{ kind: 'write', path: 'a', entry: f('v2'), replaces: f('v1') }],
      conflicts: [],
    })
    t.same(plan({ a: f('v1') }, { a: f('v2') }, { a: f('v1') }), {
      result: { a: f('v2') },
      actions: [],
      conflicts: [],
    })
    t.same(
      plan({ a: f('v1') }, { a: f('v2') }, { a: f('v2') }).actions,
      [],
      'the same edit on both',
    )
  },
)

t.test('a deletion follows when the other side did not change the file', async (t) => {
  t.same(plan({ a: f('v1') }, { a: f('v1') }, {}), {
    result: {},
    actions: [{ kind: 'delete', path: 'a', expected: f('v1') }],
    conflicts: [],
  })
  t.same(plan({ a: f('v1') }, {}, { a: f('v1') }), { result: {}, actions: [], conflicts: [] })
})

t.test('a deletion loses against a change: nothing changed is ever deleted', async (t) => {
  t.same(plan({ a: f('v1') }, {}, { a: f('v2') }), {
    result: { a: f('v2') },
    actions: [{ kind: 'write', path: 'a', entry: f('v2') }],
    conflicts: [],
  })
  t.same(plan({ a: f('v1') }, { a: f('v2') }, {}), {
    result: { a: f('v2') },
    actions: [],
    conflicts: [],
  })
})

t.test(
  'two different changes keep both: the remote keeps the name, this one goes aside',
  async (t) => {
    const aside = 'docs/plan.conflict-beta-20261207-104107.txt'
    t.same(
      plan(
        { 'docs/plan.txt': f('v2') },
        { 'docs/plan.txt': f('v3 beta') },
        { 'docs/plan.txt': f('v3 alpha') },
      ),
      {
        result: { 'docs/plan.txt': f('v3 alpha'), [aside]: f('v3 beta') },
        actions: [
          { kind: 'rename', from: 'docs/plan.txt', to: aside, expected: f('v3 beta') },
          { kind: 'write', path: 'docs/plan.txt', entry: f('v3 alpha') },
        ],
        conflicts: [aside],
      },
    )
    const taken = plan(
      { n: f('0') },
      { n: f('here'), 'n.conflict-beta-20261207-104107': f('old') },
      { n: f('there'), 'n.conflict-beta-20261207-104107': f('old') },
    )
    t.same(taken.conflicts, ['n.conflict-beta-20261207-104107-2'], 'a taken name gets -2')
  },
)

t.test('a directory wins its name against a file, which is kept aside', async (t) => {
  const m = plan({}, { x: d(), 'x/inner': f('i') }, { x: f('file there') })
  t.same(m.conflicts, ['x.conflict-beta-20261207-104107'])
  t.same(m.result, {
    x: d(),
    'x/inner': f('i'),
    'x.conflict-beta-20261207-104107': f('file there'),
  })
  t.same(m.actions, [
    { kind: 'write', path: 'x.conflict-beta-20261207-104107', entry: f('file there') },
  ])
})

t.test('a file being written here is neither taken nor overwritten in this round', async (t) => {
  t.same(plan({}, { 'draft.txt': f('half') }, {}, ['draft.txt']), {
    result: {},
    actions: [],
    conflicts: [],
  })
  t.same(plan({ a: f('1') }, { a: f('half') }, { a: f('2') }, ['a']), {
    result: { a: f('2') },
    actions: [],
    conflicts: [],
  })
})

t.test('a kept file keeps its directory, though the other side deleted it', async (t) => {
  const m = plan({ d: d() }, { d: d(), 'd/new': f('n') }, {})
  t.same(m.result, { d: d(), 'd/new': f('n') })
  t.same(m.actions, [], 'the directory is not deleted under the new file')
})

t.test('actions run aside first, deletions deepest first, writes shallowest first', async (t) => {
  const m = plan(
    { a: f('1'), old: d(), 'old/x': f('x'), c: f('c0') },
    { a: f('1'), old: d(), 'old/x': f('x'), c: f('c-here') },
    { a: f('2'), n: d(), 'n/deep': d(), 'n/deep/f': f('f'), c: f('c-there') },
  )
  t.same(
    m.actions.map((a) => `${a.kind} ${a.kind === 'rename' ? a.from : a.path}`),
    [
      'rename c',
      'delete old/x',
      'delete old',
      'write a',
      'write c',
      'write n',
      'write n/deep',
      'write n/deep/f',
    ],
  )
})
