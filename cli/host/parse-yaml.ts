import { isCollection, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node, type YAMLError } from 'yaml'

// The one door to the `yaml` package: parses a host file keeping positions, so that every later
// problem (schema or semantic) can be reported at its line and column.

export type PathSegment = string | number

export interface Position {
  line: number
  col: number
}

export interface ParsedYaml {
  value: unknown
  // YAML syntax errors; when non-empty, `value` must not be used.
  errors: { position: Position; message: string; hint?: string }[]
  // Position of the value at `path`, or of the deepest existing parent.
  locate(path: readonly PathSegment[]): Position
  // Position of the key at `path` (for unknown keys), falling back to `locate`.
  locateKey(path: readonly PathSegment[]): Position
  // The text of a scalar as written in the file (`8425e349`, which YAML reads as a number).
  sourceText(path: readonly PathSegment[]): string | undefined
}

export function parseYaml(source: string): ParsedYaml {
  const lineCounter = new LineCounter()
  // A host file is JSON-shaped: without `resolveKnownTags: false`, `!!binary` or `!!timestamp`
  // would hand the validator a Buffer or a Date; they are reported as unknown tags instead.
  const doc = parseDocument(source, { lineCounter, prettyErrors: false, uniqueKeys: true, resolveKnownTags: false })
  const at = (offset: number | undefined): Position => {
    const pos = lineCounter.linePos(offset ?? 0)
    return { line: pos.line, col: pos.col }
  }
  const errors = explainErrors(doc, source, at).map(({ offset, ...rest }) => ({ position: at(offset), ...rest }))

  // Deeper than any host file nests: refused before anything walks it recursively.
  const deep = errors.length === 0 ? tooDeep(doc.contents) : undefined
  if (deep !== undefined)
    errors.push({
      position: at(deep),
      message: `nested more than ${MAX_DEPTH} levels deep here`,
      hint: 'a host file nests a few levels at most: write this value as text, a list or a flat mapping',
    })

  let value: unknown = null
  if (errors.length === 0) {
    try {
      value = doc.toJS({ maxAliasCount: 100 })
    } catch (error) {
      // Only alias expansion throws here: more than maxAliasCount, or a cycle.
      errors.push({ position: at(0), message: (error as Error).message, hint: 'write the values out instead of using anchors and aliases' })
    }
  }

  const walk = (path: readonly PathSegment[]) => {
    let node: unknown = doc.contents
    let keyNode: Node | undefined
    let found = true
    for (const segment of path) {
      if (isMap(node)) {
        const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(segment))
        if (pair === undefined) {
          found = false
          break
        }
        keyNode = pair.key as Node
        node = pair.value ?? pair.key
      } else if (isSeq(node) && typeof segment === 'number' && node.items[segment] !== undefined) {
        keyNode = undefined
        node = node.items[segment]
      } else {
        found = false
        break
      }
    }
    return { node: node as Node | null, keyNode, found }
  }

  const offsetOf = (node: Node | null | undefined) => node?.range?.[0]

  return {
    value,
    errors,
    locate: (path) => at(offsetOf(walk(path).node)),
    sourceText: (path) => {
      const { node, found } = walk(path)
      return found && isScalar(node) && node.range !== undefined && node.range !== null
        ? source.slice(node.range[0], node.range[1])
        : undefined
    },
    locateKey: (path) => {
      const { node, keyNode, found } = walk(path)
      return at(offsetOf(found && keyNode !== undefined ? keyNode : node))
    },
  }
}

interface Explained {
  offset: number
  message: string
  hint?: string
}

// yaml's errors, plus tags it could not resolve (a warning to yaml, but the value would be wrong).
function explainErrors(doc: Document.Parsed, source: string, at: (offset: number) => Position): Explained[] {
  const raw = [...doc.errors, ...doc.warnings.filter((w) => w.code === 'TAG_RESOLVE_FAILED')].sort((a, b) => a.pos[0] - b.pos[0])
  // yaml reports some mistakes as several errors from one offset; the first is kept, with the
  // widest range, which tells an over-indented line from two keys on one line.
  const explained = raw
    .filter((error, i) => i === 0 || raw[i - 1]!.pos[0] !== error.pos[0])
    .map((error) => {
      const end = Math.max(...raw.filter((e) => e.pos[0] === error.pos[0]).map((e) => e.pos[1]))
      return explainError(doc, source, error, end, at)
    })
  return [...explained, ...structureErrors(doc)].sort((a, b) => a.offset - b.offset)
}

// Found here rather than when converting to JavaScript, so that they are located: `? [a, b]: x`
// is valid YAML, but an object would stringify that key (and yaml would warn on stderr); and
// `*nope` with no `&nope` above it would throw without a position.
function structureErrors(doc: Document.Parsed): Explained[] {
  const found: Explained[] = []
  visit(doc, {
    Pair(_, pair) {
      const key = pair.key as Node | null
      if (isCollection(key) && key.range) {
        found.push({ offset: key.range[0], message: 'a key must be text, not a list or a mapping', hint: 'write the key as plain text; quote it if it must contain [ ] { } or ?' })
      }
    },
    Alias(_, alias) {
      if (alias.range && alias.resolve(doc) === undefined) {
        found.push({ offset: alias.range[0], message: `\`*${alias.source}\` refers to no \`&${alias.source}\` above it`, hint: 'set the anchor before its first use, or write the value out' })
      }
    },
  })
  return found
}

const MAX_DEPTH = 32

// The offset of the first collection nested deeper than MAX_DEPTH, walked without recursion.
function tooDeep(root: unknown): number | undefined {
  const stack: { node: unknown; depth: number }[] = [{ node: root, depth: 0 }]
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!
    if (!isCollection(node)) continue
    if (depth >= MAX_DEPTH) return node.range?.[0] ?? 0
    for (const item of node.items as unknown[])
      if (isPair(item)) {
        stack.push({ node: item.key, depth: depth + 1 }, { node: item.value, depth: depth + 1 })
      } else stack.push({ node: item, depth: depth + 1 })
  }
  return undefined
}

// Rewords messages that name parser internals, and moves those that point far from the mistake.
function explainError(doc: Document.Parsed, source: string, error: YAMLError, end: number, at: (offset: number) => Position): Explained {
  const start = error.pos[0]
  const message = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')
  // The parser itself ran out of stack: the nesting, not the syntax, is the problem.
  if (/Maximum call stack size exceeded/.test(message))
    return { offset: start, message: 'nested too deeply to read', hint: 'a host file nests a few levels at most: write this value as text, a list or a flat mapping' }
  switch (error.code) {
    case 'TAG_RESOLVE_FAILED':
      return { offset: start, message: `unknown tag \`${source.slice(start, error.pos[1])}\``, hint: 'remove the tag; a host file holds only text, numbers, true/false, lists and mappings' }
    case 'MULTIPLE_DOCS':
      return { offset: start, message: 'a second document starts here', hint: 'one host per file: move it to its own hosts/<name>.yaml' }
    case 'DUPLICATE_KEY': {
      const first = firstKeyLike(doc, start)
      if (first === undefined) break
      return { offset: start, message: `\`${first.key}\` is already a key of this mapping, on line ${at(first.offset).line}`, hint: 'keep one of the two' }
    }
    case 'MISSING_CHAR': {
      // yaml reports an unclosed quote where the file ends; the mistake is where the quote opens.
      const open = /quote/.test(message) ? openingQuote(doc, start) : undefined
      if (open === undefined) break
      return { offset: open, message: 'this quote is never closed', hint: 'add the closing quote at the end of the value' }
    }
    case 'BLOCK_AS_IMPLICIT_KEY':
    case 'MULTILINE_IMPLICIT_KEY': {
      const lastLine = source.lastIndexOf('\n', end - 1) + 1
      const indent = (from: number) => /^ */.exec(source.slice(from))![0].length
      if (indent(lastLine) > indent(source.lastIndexOf('\n', start - 1) + 1)) {
        return { offset: lastLine + indent(lastLine), message: 'this line is indented deeper than the key above it, so it is read as part of that value', hint: 'start it in the same column as the other keys of its mapping' }
      }
      if (error.code === 'BLOCK_AS_IMPLICIT_KEY') {
        return { offset: start, message: 'a second `key:` on one line', hint: 'put each key on its own line, or quote a value that contains ": "' }
      }
      break
    }
  }
  return { offset: start, message }
}

// The earlier key that a duplicate key at `offset` repeats.
function firstKeyLike(doc: Document.Parsed, offset: number): { key: string; offset: number } | undefined {
  let found: { key: string; offset: number } | undefined
  visit(doc, {
    Map(_, map) {
      const duplicate = map.items.find((p) => isScalar(p.key) && p.key.range?.[0] === offset)?.key
      if (!isScalar(duplicate)) return undefined
      const first = map.items.find((p) => isScalar(p.key) && p.key.value === duplicate.value)?.key as Node | undefined
      found = { key: String(duplicate.value), offset: first?.range?.[0] ?? offset }
      return visit.BREAK
    },
  })
  return found
}

// Start of the quoted scalar that is still open at `offset`.
function openingQuote(doc: Document.Parsed, offset: number): number | undefined {
  let found: number | undefined
  visit(doc, {
    Scalar(_, node) {
      const quoted = node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE'
      if (quoted && node.range !== undefined && node.range !== null && node.range[0] < offset && node.range[1] >= offset) found = node.range[0]
    },
  })
  return found
}
