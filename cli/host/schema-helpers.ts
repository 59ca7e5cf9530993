import { Type, type SchemaOptions, type TSchema, type TUnsafe } from '@sinclair/typebox'

// Extra annotations carried in the JSON Schema. `errorMessage` is also understood by editors
// (vscode-json-languageservice, yaml-language-server); `x-hint` is the fix Keystone prints.
export interface Annotations extends SchemaOptions {
  errorMessage?: string
  'x-hint'?: string
}

// A string enum as `{ type: string, enum: [...] }` rather than TypeBox's anyOf of consts, so that
// editors offer the values and a wrong value yields one error instead of one per alternative.
export function StringEnum<const T extends readonly string[]>(
  values: T,
  options: Annotations = {},
): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options })
}

// A property that may be left out of the host file. Every optional property has a default, so
// that after loading the Host value is complete (see `Resolved` below); a schema test enforces it.
export function Defaulted<T extends TSchema>(schema: T, value: unknown) {
  return Type.Optional(Type.Unsafe<T['static']>({ ...schema, default: value }))
}

// The loaded Host: every property present, because every optional one has a default.
export type Resolved<T> = T extends readonly (infer U)[]
  ? Resolved<U>[]
  : T extends object
    ? { -readonly [K in keyof T]-?: Resolved<Exclude<T[K], undefined>> }
    : T

// `type: [T, "null"]` rather than an anyOf, so that a wrong value yields one error, not three.
export function Nullable<T extends TSchema>(schema: T, options: Annotations = {}): TUnsafe<T['static'] | null> {
  const { type } = schema as { type?: string }
  if (type === undefined) throw new TypeError('Nullable needs a schema with a type')
  return Type.Unsafe<T['static'] | null>({ ...schema, ...options, type: [type, 'null'] })
}
