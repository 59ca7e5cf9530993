import { HostSchema } from './host-schema.js'

export const SCHEMA_FILE = 'schema/host.schema.json'

// `schema/host.schema.json`, derived from the TypeBox definition (symbol keys drop out of JSON).
export function renderHostSchemaJson(): string {
  const schema = { $schema: 'http://json-schema.org/draft-07/schema#', ...HostSchema }
  return JSON.stringify(schema, null, 2) + '\n'
}
