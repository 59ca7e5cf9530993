import { HostSchema } from './host-schema.js'

export { SCHEMA_FILE } from './schema-file.js'

// `schema/host.schema.json`, derived from the TypeBox definition (symbol keys drop out of JSON).
// Written by `npm run schema` (write-schema.ts); commands read the written file (shipped-schema.ts).
export function renderHostSchemaJson(): string {
  const schema = { $schema: 'http://json-schema.org/draft-07/schema#', ...HostSchema }
  return JSON.stringify(schema, null, 2) + '\n'
}
