// The one Nix emitter: every generated .nix file is made of values passed through here, so
// escaping and quoting are decided in exactly one place.

// Raw Nix text, passed through verbatim. The only way to put an expression (a path, a function
// call, `lib.mkDefault …`) into generated Nix; everything else is data.
export class NixRaw {
  constructor(readonly text: string) {}
}

export function nixRaw(text: string): NixRaw {
  return new NixRaw(text)
}

export type NixValue =
  | null
  | boolean
  | number
  | string
  | NixRaw
  | readonly NixValue[]
  | { readonly [key: string]: NixValue | undefined }

// Nix keywords cannot be bare attribute names (nix/src/libexpr/lexer.l).
const KEYWORDS = new Set(['if', 'then', 'else', 'assert', 'with', 'let', 'in', 'rec', 'inherit', 'or'])
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_'-]*$/

export function emitAttrName(name: string): string {
  return IDENTIFIER.test(name) && !KEYWORDS.has(name) ? name : emitString(name)
}

// A double-quoted Nix string. `${` must be escaped or it starts an interpolation; a lone `$` is
// literal. NUL cannot be represented in a Nix string at all.
export function emitString(value: string): string {
  if (value.includes('\0')) throw new TypeError('a Nix string cannot contain a NUL character')
  let out = '"'
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!
    if (c === '\\') out += '\\\\'
    else if (c === '"') out += '\\"'
    else if (c === '\n') out += '\\n'
    else if (c === '\r') out += '\\r'
    else if (c === '\t') out += '\\t'
    else if (c === '$' && value[i + 1] === '{') out += '\\$'
    else out += c
  }
  return out + '"'
}

// Multi-line text (shell hooks) reads better as an indented string. Only used where the result
// is unambiguous: ends with a newline, and no tabs, carriage returns or whitespace-only lines,
// whose handling by Nix's indentation stripping would change the value.
function fitsIndentedString(value: string): boolean {
  if (!value.endsWith('\n') || value.length < 2) return false
  if (/[\t\r\0]/.test(value)) return false
  const lines = value.slice(0, -1).split('\n')
  if (lines.length < 2) return false
  return lines.every((line) => line.trim() !== '') && lines.some((line) => !line.startsWith(' '))
}

// Inside '' … '' only two sequences are special: `''` (escaped as `'''`) and `${` (escaped as
// `''${`). A lone `'` right before an escaped `${` would merge with it into `'''` + `${`, so it
// takes the escape for any single character, `''\'`.
function escapeIndentedLine(line: string): string {
  let out = ''
  for (let i = 0; i < line.length; i++) {
    if (line.startsWith("''", i)) {
      out += "'''"
      i++
    } else if (line.startsWith('${', i)) {
      out += "''${"
      i++
    } else if (line[i] === "'" && line.startsWith('${', i + 1)) {
      out += "''\\'"
    } else {
      out += line[i]
    }
  }
  return out
}

function emitIndentedString(value: string, indent: string): string {
  const inner = indent + '  '
  const body = value
    .slice(0, -1)
    .split('\n')
    .map((line) => inner + escapeIndentedLine(line))
    .join('\n')
  return `''\n${body}\n${indent}''`
}

function emitNumber(value: number): string {
  if (!Number.isSafeInteger(value)) {
    throw new TypeError(`only safe integers can be emitted as Nix, got ${value}`)
  }
  // Parenthesised so that a negative number is one element inside a list.
  return value < 0 ? `(${value})` : String(value)
}

function isAttrs(value: NixValue): value is { readonly [key: string]: NixValue | undefined } {
  return typeof value === 'object' && value !== null && !(value instanceof NixRaw) && !Array.isArray(value)
}

function definedEntries(value: { readonly [key: string]: NixValue | undefined }): [string, NixValue][] {
  return Object.entries(value).filter((entry): entry is [string, NixValue] => entry[1] !== undefined)
}

// `a = { b = { c = 1; }; }` is written `a.b.c = 1;`: the same value, shorter to review.
function collapsePath(name: string, value: NixValue): [string, NixValue] {
  let path = emitAttrName(name)
  let current = value
  for (;;) {
    if (!isAttrs(current)) break
    const entries = definedEntries(current)
    if (entries.length !== 1) break
    const [key, inner] = entries[0]!
    path += '.' + emitAttrName(key)
    current = inner
  }
  return [path, current]
}

// Short lists of scalars stay on one line, as nixfmt writes them: `[ 1 7 ]`.
const INLINE_LIST_WIDTH = 60

function emitInlineList(items: readonly NixValue[]): string | undefined {
  const scalar = (item: NixValue) =>
    item === null || typeof item === 'boolean' || typeof item === 'number' || (typeof item === 'string' && !fitsIndentedString(item))
  if (!items.every(scalar)) return undefined
  const text = `[ ${items.map((item) => emitNix(item)).join(' ')} ]`
  return text.length <= INLINE_LIST_WIDTH && !text.includes('\n') ? text : undefined
}

export function emitNix(value: NixValue, indent = ''): string {
  if (value === null) return 'null'
  if (value === true) return 'true'
  if (value === false) return 'false'
  if (typeof value === 'number') return emitNumber(value)
  if (typeof value === 'string') {
    return fitsIndentedString(value) ? emitIndentedString(value, indent) : emitString(value)
  }
  if (value instanceof NixRaw) return value.text
  const inner = indent + '  '
  if (Array.isArray(value)) {
    if (value.length === 0) return '[ ]'
    const inline = emitInlineList(value)
    if (inline !== undefined) return inline
    const items = value.map((item) => inner + emitNix(item, inner))
    return `[\n${items.join('\n')}\n${indent}]`
  }
  const entries = definedEntries(value as { readonly [key: string]: NixValue | undefined })
  if (entries.length === 0) return '{ }'
  const lines = entries.map(([name, item]) => {
    const [path, leaf] = collapsePath(name, item)
    return `${inner}${path} = ${emitNix(leaf, inner)};`
  })
  return `{\n${lines.join('\n')}\n${indent}}`
}
