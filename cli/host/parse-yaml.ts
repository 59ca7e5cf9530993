import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml'

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
  errors: { position: Position; message: string }[]
  // Position of the value at `path`, or of the deepest existing parent.
  locate(path: readonly PathSegment[]): Position
  // Position of the key at `path` (for unknown keys), falling back to `locate`.
  locateKey(path: readonly PathSegment[]): Position
  // The text of a scalar as written in the file (`8425e349`, which YAML reads as a number).
  sourceText(path: readonly PathSegment[]): string | undefined
}

export function parseYaml(source: string): ParsedYaml {
  const lineCounter = new LineCounter()
  const doc = parseDocument(source, { lineCounter, prettyErrors: false, uniqueKeys: true })
  const at = (offset: number | undefined): Position => {
    const pos = lineCounter.linePos(offset ?? 0)
    return { line: pos.line, col: pos.col }
  }
  const errors = doc.errors.map((error) => ({
    position: at(error.pos[0]),
    message: error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''),
  }))

  let value: unknown = null
  if (errors.length === 0) {
    try {
      value = doc.toJS({ maxAliasCount: 100 })
    } catch (error) {
      errors.push({ position: at(0), message: (error as Error).message })
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
