import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

// A young-generation collection, asked for by a thread that turns large buffers over quickly.
// Node's cipher and inflate calls return a new buffer each time (no call fills a given one), so
// each chunk leaves garbage the size of the chunk. A thread that allocates few objects besides
// is rarely collected, and V8 lets 64 MiB of such buffers pile up per thread before it acts on
// their account; the allocator then keeps that memory. One collection per few MiB of data (about
// a millisecond each) keeps the garbage to a few MiB. `gc` is reachable only through a flag, set
// here for contexts made from now on; where that fails, V8 decides alone.
export const collectYoung: () => void = (() => {
  try {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as (options: { type: 'minor' }) => void
    return () => gc({ type: 'minor' })
  } catch {
    return () => {}
  }
})()
