import path from 'node:path'
import t from 'tap'
import { runFaultInjection } from '../../bench/lib/fault-injection.mjs'
import { tempDir } from '../helpers/agent.js'

// Proof of safety (a): SIGKILL at 50 random points of backups of a changing tree. After each,
// `verify` accepts the repository; restores equal the last committed snapshot byte for byte; at
// the end the next pass converges (reads nothing, uploads only its snapshot).
// bench/fault-injection.mjs runs the same loop with 500 kills.
// About two minutes alone; more beside the rehearsal machines' emulated CPUs, beyond tap's 300 s.
t.setTimeout(900_000)
t.test(
  '50 SIGKILLs during backups: verify accepts, restores match, the next pass converges',
  { timeout: 900_000 },
  async (t) => {
    const work = await tempDir('crash')
    const result = await runFaultInjection({
      kills: 50,
      seed: 20261123,
      store: `file://${path.join(work, 'store')}`,
    })
    t.ok(result.killed >= 50, `${result.killed} kills in ${result.runs} runs`)
    t.ok(result.restores >= 10, `${result.restores} restores checked byte for byte`)
    t.ok(result.snapshots > 5, `${result.snapshots} snapshots committed along the way`)
  },
)
