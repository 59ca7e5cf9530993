import type { PathSegment } from './parse-yaml.js'

// A problem at a path inside a host file, before it is given a line and column.
export interface PathProblem {
  path: PathSegment[]
  // Unknown or missing keys are reported at the key, everything else at the value.
  atKey: boolean
  message: string
  hint?: string
}

export function problemAt(path: PathSegment[], message: string, hint?: string): PathProblem {
  return hint === undefined ? { path, atKey: false, message } : { path, atKey: false, message, hint }
}

// `storage.disks[0]`: how a path is shown to a person.
export function formatPath(path: readonly PathSegment[]): string {
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('')
}

// A problem prints on one line, and text from a host file must not drive the terminal: control
// characters (newlines of a block scalar, an ESC) are shown escaped.
export function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) =>
    c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}
