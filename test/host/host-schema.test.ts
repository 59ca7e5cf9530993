import t from 'tap'
import { HostSchema } from '../../cli/host/host-schema.js'

interface SchemaNode {
  type?: string | string[]
  properties?: Record<string, SchemaNode>
  required?: string[]
  items?: SchemaNode
  default?: unknown
  additionalProperties?: unknown
}

function* objects(node: SchemaNode, path: string): Generator<[string, SchemaNode]> {
  if (node.properties !== undefined) yield [path, node]
  for (const [name, child] of Object.entries(node.properties ?? {})) yield* objects(child, `${path}.${name}`)
  if (node.items !== undefined) yield* objects(node.items, `${path}[]`)
}

// The loaded `Host` type claims every property is present; that holds only if every optional
// property has a default for ajv to fill in.
t.test('every optional property has a default', async (t) => {
  let checked = 0
  for (const [path, node] of objects(HostSchema as unknown as SchemaNode, 'host')) {
    for (const [name, child] of Object.entries(node.properties!)) {
      if (node.required?.includes(name)) continue
      checked++
      t.ok('default' in child, `${path}.${name} has a default`)
    }
  }
  t.ok(checked > 30, `checked ${checked} optional properties`)
})

t.test('every object rejects unknown keys, so typos are reported', async (t) => {
  for (const [path, node] of objects(HostSchema as unknown as SchemaNode, 'host')) {
    t.equal(node.additionalProperties, false, `${path} is closed`)
  }
})
