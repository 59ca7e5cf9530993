import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import fc from 'fast-check'
import t from 'tap'
import { runCli } from '../../cli/run-cli.js'
import { example, mutate, mutation, textOf } from '../helpers/host-mutations.js'
import { tempFleet } from '../helpers/temp-fleet.js'

// `keystone check` on mutated example host files — types swapped, huge and negative numbers,
// unicode and control characters, deep nesting, duplicate keys, anchors and aliases, truncation
// (test/helpers/host-mutations.ts) — run through the CLI's own entry (cli/run-cli.ts, what the
// binary runs, in this process so that 2,000 cases fit in a CI run). For every case: exit 0, 1
// or 2, never 70; no stack trace; under 10 KB of output; a refusal of a host file names
// file:line:col; under 2 s of CPU. A fresh seed each run, printed (KEYSTONE_SEED=<n> to reuse it).
const RUNS = 2000
const seed = Number(process.env['KEYSTONE_SEED'] ?? Math.floor(Math.random() * 2 ** 31))

// The CLI's stdout and stderr while `run` runs.
async function captured(run: () => Promise<number>) {
  let output = ''
  const writes = [process.stdout, process.stderr].map((stream) => {
    const original = stream.write.bind(stream)
    stream.write = ((chunk: string | Uint8Array) => {
      output += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')
      return true
    }) as typeof stream.write
    return () => (stream.write = original)
  })
  try {
    return { code: await run(), output }
  } finally {
    for (const restore of writes) restore()
  }
}

t.comment(`seed ${seed} (rerun with KEYSTONE_SEED=${seed})`)

t.test(`${RUNS} mutated host files through keystone check`, async (t) => {
  const fleet = await tempFleet(t)
  // Once unmutated first: it loads and compiles the CLI's modules and the schema, a cost of the
  // first run in a process, not of any input.
  const clean = await captured(() => runCli(['check', '--fleet', fleet]))
  t.equal(clean.code, 0, clean.output)
  const codes = new Map<number, number>()
  const input = fc.record({
    file: example,
    mutations: fc.array(mutation, { minLength: 1, maxLength: 4 }),
  })
  await fc.assert(
    fc.asyncProperty(input, async ({ file, mutations }) => {
      const text = mutations.reduce(mutate, textOf(file))
      await writeFile(path.join(fleet, file), text)
      // CPU time, not wall time: beside the rehearsal machines' emulated CPUs a case can wait
      // longer for a core than it works.
      const started = process.cpuUsage()
      const { code, output } = await captured(() => runCli(['check', '--fleet', fleet]))
      const used = process.cpuUsage(started)
      const took = (used.user + used.system) / 1000
      await writeFile(path.join(fleet, file), textOf(file))
      codes.set(code, (codes.get(code) ?? 0) + 1)
      const first = output.split('\n')[0]
      if (![0, 1, 2].includes(code)) throw new Error(`exit ${code}: ${first}`)
      if (/^\s+at .*:\d+:\d+\)?$/m.test(output)) throw new Error(`a stack trace: ${first}`)
      if (Buffer.byteLength(output) > 10_240)
        throw new Error(`${Buffer.byteLength(output)} bytes of output`)
      const aboutHosts = code !== 0 && !/generated files? (is|are) out of date/.test(output)
      if (aboutHosts && !/^hosts\/[^:\n]+\.ya?ml:\d+:\d+: /m.test(output))
        throw new Error(`a refusal without file:line:col: ${first}`)
      if (took > 2_000) throw new Error(`took ${Math.round(took)} ms of CPU`)
    }),
    { numRuns: RUNS, seed },
  )
  t.comment(`exit codes: ${[...codes].map(([code, n]) => `${code}×${n}`).join(', ')}`)
  t.ok((codes.get(1) ?? 0) > RUNS / 2, 'most mutations are refused')
})
