import fc from 'fast-check'
import t from 'tap'
import { isConflictCopy } from '../../cli/agent/sync/conflict-name.js'
import type { Action, SyncItem } from '../../cli/agent/sync/merge.js'
import { syncRound, type Base, type FolderDeps, type Head } from '../../cli/agent/sync/round.js'

// Two-way sync, driven through the real merge and the real round by a model of 2–3 devices and a
// store: random edits, deletions, renames, files caught half-written, offline periods, syncs,
// and devices that publish in the middle of another's round. Whatever happens, once every device
// is back online and has synced, all of them hold the same tree, and no content was lost: every
// version a user wrote is still there (under its name or a conflict copy), unless a user later
// changed or deleted it on a device that had it.
interface Item extends SyncItem {
  version: string
}

const USER_PATHS = ['a.txt', 'b.md', 'd/c.txt', 'd/e', 'f']
const file = (version: string, mtimeMs: number): Item => ({
  type: 'file',
  key: version,
  version,
  mtimeMs,
})
const dir = (): Item => ({ type: 'dir', key: 'dir', version: 'dir', mtimeMs: 0 })

class World {
  readonly heads: Head<Item>[] = []
  readonly created = new Set<string>()
  readonly superseded = new Set<string>()
  readonly partials = new Set<string>()
  clock = 1_795_000_000_000
  nested = 0

  constructor(readonly devices: Device[]) {}
}

class Device {
  readonly tree = new Map<string, Item>()
  readonly writing = new Set<string>()
  base: Base | undefined
  online = true
  edits = 0

  constructor(
    readonly name: string,
    readonly world: World,
  ) {}

  #replace(path: string, item: Item | undefined): void {
    const old = this.tree.get(path)
    if (old !== undefined && old.type === 'file') this.world.superseded.add(old.version)
    if (item === undefined) this.tree.delete(path)
    else {
      for (let d = path; d.includes('/');) {
        d = d.slice(0, d.lastIndexOf('/'))
        if (!this.tree.has(d)) this.tree.set(d, dir())
      }
      this.tree.set(path, item)
    }
  }

  edit(path: string): void {
    if (this.tree.get(path)?.type === 'dir') return
    this.writing.delete(path)
    const version = `${this.name}-${++this.edits}`
    this.world.created.add(version)
    this.#replace(path, file(version, ++this.world.clock))
  }

  remove(path: string): void {
    if (this.tree.get(path)?.type !== 'file') return
    this.writing.delete(path)
    this.#replace(path, undefined)
  }

  rename(from: string, to: string): void {
    const item = this.tree.get(from)
    if (item?.type !== 'file' || from === to || this.tree.get(to)?.type === 'dir') return
    if (this.writing.has(from) || this.writing.has(to)) return
    this.tree.delete(from)
    this.#replace(to, item)
  }

  // A file caught half-written: its partial content must never be published.
  beginWrite(path: string): void {
    if (this.tree.get(path)?.type === 'dir') return
    const version = `${this.name}-${++this.edits}-partial`
    this.world.partials.add(version)
    this.#replace(path, file(version, ++this.world.clock))
    this.writing.add(path)
  }

  endWrite(path: string): void {
    if (!this.writing.has(path)) return
    this.edit(path) // replaces the partial version
  }

  deps(interleave: () => boolean): FolderDeps<Item> {
    const w = this.world
    return {
      host: this.name,
      scan: async () => ({ entries: new Map(this.tree), held: new Set(this.writing) }),
      newestHead: async () => {
        if (!this.online) throw new Error('offline')
        return w.heads.at(-1)
      },
      apply: async (action: Action<Item>) => {
        // Now and then the user edits a file in the middle of the round.
        if (interleave()) this.edit(USER_PATHS[w.clock % USER_PATHS.length]!)
        return this.apply(action)
      },
      publish: async (seq, entries) => {
        if (!this.online) throw new Error('offline')
        // Now and then another device wins the race for this head number.
        if (w.nested === 0 && interleave()) {
          const other = w.devices.find((d) => d !== this && d.online)
          if (other !== undefined) {
            w.nested++
            await syncRound(other.deps(() => false)).finally(() => w.nested--)
          }
        }
        if (seq !== w.heads.length + 1) return false
        w.heads.push({ seq, entries: new Map(entries) })
        return true
      },
      readBase: () => this.base,
      writeBase: (base) => (this.base = base),
    }
  }

  apply(action: Action<Item>): boolean {
    const at = (p: string) => this.tree.get(p)
    if (action.kind === 'rename') {
      if (at(action.from)?.key !== action.expected.key || at(action.to) !== undefined) return false
      this.tree.set(action.to, this.tree.get(action.from)!)
      this.tree.delete(action.from)
      return true
    }
    if (action.kind === 'delete') {
      const current = at(action.path)
      if (current?.key !== action.expected.key) return false
      if (
        current.type === 'dir' &&
        [...this.tree.keys()].some((p) => p.startsWith(action.path + '/'))
      )
        return false
      this.tree.delete(action.path)
      return true
    }
    const current = at(action.path)
    if (
      action.replaces === undefined ? current !== undefined : current?.key !== action.replaces.key
    )
      return false
    for (let d = action.path; d.includes('/');) {
      d = d.slice(0, d.lastIndexOf('/'))
      if (!this.tree.has(d)) this.tree.set(d, dir())
    }
    this.tree.set(action.path, action.entry)
    return true
  }
}

type Op =
  | { op: 'edit' | 'remove' | 'begin' | 'end'; device: number; path: number }
  | { op: 'rename'; device: number; path: number; to: number }
  | { op: 'sync' | 'offline' | 'online'; device: number }

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constantFrom('edit' as const, 'remove' as const, 'begin' as const, 'end' as const),
      device: fc.nat(2),
      path: fc.nat(USER_PATHS.length - 1),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('rename' as const),
      device: fc.nat(2),
      path: fc.nat(USER_PATHS.length - 1),
      to: fc.nat(USER_PATHS.length - 1),
    }),
  },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('sync' as const), device: fc.nat(2) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constantFrom('offline' as const, 'online' as const),
      device: fc.nat(2),
    }),
  },
)

const view = (tree: ReadonlyMap<string, Item>) =>
  [...tree].map(([p, i]) => `${p}=${i.version}`).sort()

async function sync(device: Device, interleave: () => boolean): Promise<void> {
  if (!device.online) return
  await syncRound(device.deps(interleave))
}

t.test('2–3 devices converge to the same tree and lose no content', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 2, max: 3 }),
      fc.array(op, { minLength: 1, maxLength: 60 }),
      fc.infiniteStream(fc.boolean()),
      async (count, ops, coins) => {
        const world = new World([])
        for (let i = 0; i < count; i++) world.devices.push(new Device(`host${i}`, world))
        const interleave = () => coins.next().value as boolean
        for (const o of ops) {
          const d = world.devices[o.device % count]!
          const path = 'path' in o ? USER_PATHS[o.path]! : ''
          if (o.op === 'edit') d.edit(path)
          else if (o.op === 'remove') d.remove(path)
          else if (o.op === 'rename') d.rename(path, USER_PATHS[o.to]!)
          else if (o.op === 'begin') d.beginWrite(path)
          else if (o.op === 'end') d.endWrite(path)
          else if (o.op === 'offline') d.online = false
          else if (o.op === 'online') d.online = true
          else await sync(d, interleave)
        }
        // Every device back online, every write finished, then sync until nothing moves.
        for (const d of world.devices) {
          d.online = true
          for (const p of [...d.writing]) d.endWrite(p)
        }
        for (let i = 0; i < 4 * count + 4; i++) await sync(world.devices[i % count]!, () => false)

        const trees = world.devices.map((d) => view(d.tree))
        for (const tree of trees.slice(1))
          t.same(tree, trees[0], 'every device holds the same tree')
        const head = world.heads.at(-1)
        if (head !== undefined) t.same(view(head.entries), trees[0], 'and it is the newest head')
        const final = new Set([...world.devices[0]!.tree.values()].map((i) => i.version))
        const lost = [...world.created].filter((v) => !final.has(v) && !world.superseded.has(v))
        t.same(lost, [], 'no version lost unless a user replaced or deleted it')
        for (const h of world.heads)
          for (const [p, item] of h.entries) {
            if (world.partials.has(item.version))
              t.fail(`head ${h.seq} published ${p} half-written`)
            if (isConflictCopy(p) && /\.conflict-.*\.conflict-/.test(p))
              t.fail(`head ${h.seq} holds a conflict copy of a conflict copy: ${p}`)
          }
      },
    ),
    { seed: 20261123, numRuns: 300 },
  )
})

t.test('a true conflict keeps both versions; a deletion never beats an edit', async (t) => {
  const world = new World([])
  const [a, b] = [new Device('alpha', world), new Device('beta', world)]
  world.devices.push(a, b)
  a.edit('notes.txt')
  await sync(a, () => false)
  await sync(b, () => false)
  a.edit('notes.txt')
  b.edit('notes.txt')
  await sync(a, () => false)
  const round = await syncRound(b.deps(() => false))
  t.equal(round.conflicts.length, 1)
  t.match(round.conflicts[0], /^notes\.conflict-beta-\d{8}-\d{6}\.txt$/)
  await sync(a, () => false)
  t.same(view(a.tree), view(b.tree))
  t.same(view(a.tree).sort(), [`${round.conflicts[0]}=beta-1`, 'notes.txt=alpha-2'].sort())

  a.remove('notes.txt')
  b.edit('notes.txt')
  await sync(a, () => false)
  await sync(b, () => false)
  await sync(a, () => false)
  t.equal(a.tree.get('notes.txt')?.version, 'beta-2', 'the edit survives the deletion')
  t.same(view(a.tree), view(b.tree))
})
