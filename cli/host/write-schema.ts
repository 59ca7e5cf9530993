import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { renderHostSchemaJson, SCHEMA_FILE } from './render-schema.js'
import { packageRoot } from './shipped-schema.js'

// `npm run schema`: after a change to host-schema.ts, renders schema/host.schema.json, the file
// that commands validate against and that `keystone generate` copies into fleets.
const file = path.join(packageRoot(), SCHEMA_FILE)
writeFileSync(file, renderHostSchemaJson())
console.log(`wrote ${path.relative(process.cwd(), file) || file}`)
