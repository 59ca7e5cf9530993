import { readFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { renderHostSchemaJson, SCHEMA_FILE } from '../../cli/host/render-schema.js'
import { packageRoot, shippedSchemaText } from '../../cli/host/shipped-schema.js'

const root = path.resolve(import.meta.dirname, '../..')

// Commands validate against the committed schema file, not against host-schema.ts: the two must
// not drift apart (STYLE.md §13).
t.test('schema/host.schema.json is rendered from host-schema.ts', async (t) => {
  const committed = await readFile(path.join(root, SCHEMA_FILE), 'utf8')
  t.equal(
    committed,
    renderHostSchemaJson(),
    `${SCHEMA_FILE} is up to date (run \`npm run build && npm run schema\`)`,
  )
})

t.test('commands find the schema from the package root', async (t) => {
  t.equal(packageRoot(), root)
  t.equal(shippedSchemaText(), await readFile(path.join(root, SCHEMA_FILE), 'utf8'))
})
