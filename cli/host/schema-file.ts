// Where the host file JSON Schema lives, in the package and in every fleet repository.
export const SCHEMA_FILE = 'schema/host.schema.json'
