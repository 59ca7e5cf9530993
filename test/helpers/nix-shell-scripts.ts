// Shell scripts embedded in Nix indented strings (`script = '' … ''`), pulled out for shellcheck.
// Pure: Nix text in, scripts out. Escapes follow Nix's lexer (src/libexpr/lexer.l, IND_STRING) and
// indentation follows its parser (parser.y, stripIndentation); a property test holds both to
// nix-instantiate. Comments, "strings" and interpolations are skipped as Nix skips them, so a
// `script = ''` inside a comment or a Python testScript is never taken for one.

export interface EmbeddedScript {
  file: string
  /** Line of the opening `''`. */
  line: number
  attribute: string
  /** The string as Nix would build it, interpolations replaced by placeholders. */
  script: string
  /** The file line each script line comes from. */
  lines: number[]
}

type Part =
  | { kind: 'text'; value: string; indents: boolean; offset: number }
  | { kind: 'interpolation'; offset: number }

interface Found {
  offset: number
  parts: Part[]
  frames: string[]
}

export type Placeholder = (before: string) => string

// Attributes whose indented-string value NixOS, disko or mkShell run as a shell script.
export const SHELL_ATTRIBUTES = new Set([
  ...['script', 'preStart', 'postStart', 'preStop', 'postStop', 'text', 'shellHook'],
  ...['preCreateHook', 'postCreateHook', 'preMountHook', 'postMountHook'],
  ...['extraCommands', 'postCommands', 'preLVMCommands', 'postDeviceCommands', 'postMountCommands'],
])

const NAME = String.raw`(?:[A-Za-z_][\w'-]*|"[^"\n]*")`
const MODIFIER = String.raw`(?:(?:lib\.)?(?:mkBefore|mkAfter|mkDefault|mkForce|mkOrder\s+\d+|stringAfter\s*\[[^\]]*\])\s*)?`
const ASSIGNMENT = new RegExp(String.raw`(?:^|[^\w'".-])(${NAME}(?:\.${NAME})*)\s*=\s*${MODIFIER}$`)
const WRAPPER_CALL = String.raw`(?:[A-Za-z_][\w'-]*\.)*(writeShellScript|writeShellScriptBin|writeBash|writeBashBin)\s+("[^"\n]*"|[\w.-]+)`
const WRAPPER = new RegExp(WRAPPER_CALL + String.raw`\s*$`)
const ACTIVATION = /\b(?:user)?[aA]ctivationScripts\b/

export function extractShellScripts(source: string, file: string): EmbeddedScript[] {
  const found: Found[] = []
  const lineOf = lineLocator(source)
  const fail = (offset: number, message: string): never => {
    const { line, column } = lineOf(offset)
    throw new Error(`${file}:${line}:${column}: ${message}`)
  }
  const end = scanCode(source, 0, false, { found, frames: [], fail })
  if (end < source.length) fail(end, 'unmatched }')
  const referenced = referencedNames(source)
  return found
    .sort((a, b) => a.offset - b.offset)
    .flatMap(({ offset, parts, frames }) => {
      const before = source.slice(Math.max(0, offset - 300), offset)
      const attribute = shellAttribute(before, frames) ?? letBound(before, referenced)
      if (attribute === undefined) return []
      const { text, lines } = renderParts(parts, shellPlaceholder, lineOf)
      return [{ file, line: lineOf(offset).line, attribute, script: text, lines }]
    })
}

// `script = importPool;` with `importPool = '' … '';` in a let: the names a script attribute or a
// writeShellScript takes by reference (`text` is left out: environment.etc has one too).
function referencedNames(source: string): Set<string> {
  const attributes = [...SHELL_ATTRIBUTES].filter((name) => name !== 'text').join('|')
  const name = String.raw`([A-Za-z_][\w'-]*)\s*[;)\]]`
  const byAttribute = new RegExp(String.raw`\b(?:${attributes})\s*=\s*${MODIFIER}${name}`, 'g')
  const byWrapper = new RegExp(WRAPPER_CALL + String.raw`\s+` + name, 'g')
  const names = [...source.matchAll(byAttribute)].map((m) => m[1]!)
  return new Set([...names, ...[...source.matchAll(byWrapper)].map((m) => m[3]!)])
}

function letBound(before: string, referenced: Set<string>): string | undefined {
  const path = ASSIGNMENT.exec(before)?.[1]
  return path !== undefined && referenced.has(path) ? path : undefined
}

// The value of the indented string whose opening `''` is at `offset`, interpolations replaced.
export function readIndentedString(
  source: string,
  offset: number,
  placeholder: Placeholder = shellPlaceholder,
): string {
  const found: Found[] = []
  const fail = (at: number, message: string): never => {
    throw new Error(`offset ${at}: ${message}`)
  }
  scanIndentedString(source, offset, { found, frames: [], fail })
  const { parts } = found.find((f) => f.offset === offset)!
  return renderParts(parts, placeholder, lineLocator(source)).text
}

// A word shellcheck accepts wherever an interpolation stands: usually a store path or a value; a
// number where bash wants one; two words in a `for` list (escapeShellArgs), so that shellcheck does
// not call the loop constant (SC2043).
export function shellPlaceholder(before: string): string {
  const line = before.slice(before.lastIndexOf('\n') + 1)
  const arithmetic = line.split('((').length > line.split('))').length
  if (arithmetic || /-(?:eq|ne|lt|le|gt|ge)\s+$/.test(line)) return '1'
  if (/\w$/.test(line)) return '_interpolated'
  if (/\bfor\s+\w+\s+in\s+$/.test(line)) return '/nix/store/interpolated /nix/store/interpolated-2'
  return '/nix/store/interpolated'
}

function shellAttribute(before: string, frames: readonly string[]): string | undefined {
  const wrapper = WRAPPER.exec(before)
  if (wrapper) {
    const assigned = ASSIGNMENT.exec(before.slice(0, wrapper.index).trimEnd() + ' ')
    return assigned ? lastName(assigned[1]!) : `${wrapper[1]} ${wrapper[2]}`
  }
  const assigned = ASSIGNMENT.exec(before)
  if (!assigned) return undefined
  const path = assigned[1]!
  const name = lastName(path)
  if (name === 'testScript') return undefined
  const activation = ACTIVATION.test(path) || frames.some((head) => ACTIVATION.test(head))
  if (activation) return name
  if (!SHELL_ATTRIBUTES.has(name)) return undefined
  // `text` is also environment.etc's file body; only writeShellApplication's is a script.
  if (name === 'text' && !/\bwriteShellApplication\s*$/.test(frames.at(-1) ?? '')) return undefined
  return name
}

function lastName(path: string): string {
  const names = path.match(new RegExp(NAME, 'g')) ?? [path]
  return names.at(-1)!.replace(/^"|"$/g, '')
}

interface Scan {
  found: Found[]
  frames: string[]
  fail: (offset: number, message: string) => never
}

// Nix code from `start` to the `}` that closes an interpolation (nested) or to the end of the file.
function scanCode(src: string, start: number, nested: boolean, scan: Scan): number {
  let i = start
  const depth = scan.frames.length
  while (i < src.length) {
    const c = src[i]!
    if (c === '#') {
      const eol = src.indexOf('\n', i)
      i = eol < 0 ? src.length : eol
    } else if (c === '/' && src[i + 1] === '*') {
      const close = src.indexOf('*/', i + 2)
      if (close < 0) scan.fail(i, 'unterminated /* comment')
      i = close + 2
    } else if (c === '"') {
      i = scanString(src, i, scan)
    } else if (c === "'" && src[i + 1] === "'") {
      i = scanIndentedString(src, i, scan)
    } else if (/[A-Za-z_]/.test(c)) {
      // Identifiers may hold quotes (`foldl'`, `x''`), which must not open a string.
      i = /^[\w'-]*/.exec(src.slice(i + 1, i + 200))![0].length + i + 1
    } else if (c === '{' || (c === '$' && src[i + 1] === '{')) {
      scan.frames.push(headBefore(src, i))
      i += c === '{' ? 1 : 2
    } else if (c === '}') {
      if (scan.frames.length === depth) return i
      scan.frames.pop()
      i++
    } else {
      i++
    }
  }
  if (nested) scan.fail(start - 2, 'unterminated ${ interpolation')
  return i
}

// What a `{` applies to or is assigned to: `pkgs.writeShellApplication`, `serviceConfig =`.
function headBefore(src: string, i: number): string {
  const before = src.slice(Math.max(0, i - 200), i)
  const cut = Math.max(...[';', '{', '}', '(', '['].map((c) => before.lastIndexOf(c)))
  return before.slice(cut + 1).trim()
}

// A "string" from its opening quote; returns the offset after the closing one.
function scanString(src: string, start: number, scan: Scan): number {
  let i = start + 1
  while (i < src.length) {
    const c = src[i]
    if (c === '"') return i + 1
    if (c === '\\') i += 2
    else if (c === '$' && src[i + 1] === '{') i = scanCode(src, i + 2, true, scan) + 1
    // lexer.l: `\$[^\{\"\\]` is one token, so `$${` is literal.
    else if (c === '$' && src[i + 1] !== '"' && src[i + 1] !== '\\') i += 2
    else i++
  }
  return scan.fail(start, 'unterminated "string"')
}

const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t' }

// An ''indented string'' from its opening quotes; records its parts, returns the offset after it.
function scanIndentedString(src: string, start: number, scan: Scan): number {
  const parts: Part[] = []
  const text = (value: string, indents: boolean, offset: number) => {
    const last = parts.at(-1)
    if (indents && last?.kind === 'text' && last.indents) last.value += value
    else parts.push({ kind: 'text', value, indents, offset })
  }
  const frames = [...scan.frames]
  // lexer.l: `\'\'(\ *\n)?` — spaces and the newline right after the opening are not content.
  let i = start + 2 + (/^ *\n/.exec(src.slice(start + 2, start + 2 + 400))?.[0].length ?? 0)
  for (;;) {
    if (i >= src.length) scan.fail(start, "unterminated ''indented string''")
    const c = src[i]!
    const next = src[i + 1]
    if (c === "'" && next === "'") {
      const third = src[i + 2]
      if (third === "'") text("''", false, i)
      else if (third === '$') text('$', false, i)
      else if (third === '\\' && i + 3 < src.length)
        text(ESCAPES[src[i + 3]!] ?? src[i + 3]!, false, i)
      else {
        scan.found.push({ offset: start, parts, frames })
        return i + 2
      }
      i += third === '\\' ? 4 : 3
    } else if (c === '$' && next === '{') {
      parts.push({ kind: 'interpolation', offset: i })
      i = scanCode(src, i + 2, true, scan) + 1
    } else {
      // lexer.l: `$x` is one token, so `$${` is literal; a `$` before `'` and a `'` before `$` are
      // tokens of their own, which count as content for the indentation.
      const alone =
        (c === '$' && (next === "'" || next === undefined)) || (c === "'" && next === '$')
      const length = c === '$' && !alone ? 2 : 1
      text(src.slice(i, i + length), !alone, i)
      i += length
    }
  }
}

// parser.y stripIndentation: the smallest indentation of the lines with content (an interpolation
// or escape counts as content) is dropped from every line, escapes included, then a last line of
// spaces only.
function renderParts(
  parts: readonly Part[],
  placeholder: Placeholder,
  lineOf: (offset: number) => { line: number },
): { text: string; lines: number[] } {
  let atStart = true
  let indent = 0
  let minIndent = Infinity
  for (const part of parts) {
    if (part.kind !== 'text' || !part.indents) {
      if (atStart) minIndent = Math.min(minIndent, indent)
      atStart = false
      continue
    }
    for (const c of part.value) {
      if (atStart && c === ' ') indent++
      else if (atStart && c === '\n') indent = 0
      else if (atStart) {
        atStart = false
        minIndent = Math.min(minIndent, indent)
      } else if (c === '\n') {
        atStart = true
        indent = 0
      }
    }
  }
  let text = ''
  const lines = [lineOf(parts[0]?.offset ?? 0).line]
  atStart = true
  let dropped = 0
  parts.forEach((part, n) => {
    if (part.kind === 'interpolation') {
      text += placeholder(text)
      atStart = false
      return
    }
    let out = ''
    let line = lineOf(part.offset).line
    for (const c of part.value) {
      if (atStart && c === ' ') {
        if (dropped++ >= minIndent) out += c
        continue
      }
      out += c
      atStart = c === '\n'
      dropped = 0
      // An escaped newline (''\n) starts a script line but not a file line.
      if (c === '\n') lines.push(part.indents ? ++line : line)
    }
    if (n === parts.length - 1) {
      const lastLine = out.lastIndexOf('\n')
      if (lastLine >= 0 && /^ *$/.test(out.slice(lastLine + 1))) out = out.slice(0, lastLine + 1)
    }
    text += out
  })
  if (text === '' || text.endsWith('\n')) lines.pop()
  return { text, lines }
}

function lineLocator(src: string): (offset: number) => { line: number; column: number } {
  const starts = [0]
  for (let i = src.indexOf('\n'); i >= 0; i = src.indexOf('\n', i + 1)) starts.push(i + 1)
  return (offset) => {
    let low = 0
    let high = starts.length - 1
    while (low < high) {
      const mid = (low + high + 1) >> 1
      if (starts[mid]! <= offset) low = mid
      else high = mid - 1
    }
    return { line: low + 1, column: offset - starts[low]! + 1 }
  }
}
