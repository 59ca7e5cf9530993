import { posix } from 'node:path'

// Paths that reach a unit file or a shell — the sync agent's paths (ExecStart=, ReadWritePaths=,
// tmpfiles.d) and dataset mountpoints (mount units) — are written in their plain form and from a
// small alphabet: no `.` or `..` segments, no `//` or trailing `/`, and none of the characters a
// unit file, a shell or Nix would read as something else (whitespace separates ReadWritePaths=
// entries, `%` starts a systemd specifier, `$` a substitution, control characters end lines).
// modules/sync-agent/safe-path.nix holds the same rule for a module written by hand; a test holds
// the two to the same cases.
export const SAFE_PATH_PATTERN = '^/$|^(/[A-Za-z0-9_.+@,=:-]+)+$'
const SAFE_PATH = new RegExp(SAFE_PATH_PATTERN)

export interface UnsafePath {
  reason: string
  hint: string
}

const shown = (c: string) =>
  /[\u0000-\u001f\u007f-\u009f]/.test(c)
    ? `the control character \\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`
    : /\s/.test(c)
      ? 'whitespace'
      : `\`${c}\``

export function unsafePath(path: string): UnsafePath | undefined {
  if (!path.startsWith('/'))
    return { reason: 'is not an absolute path', hint: 'write the full path, starting with /' }
  const odd = [...path].find((c) => !/[A-Za-z0-9_.+@,=:/-]/.test(c))
  if (odd !== undefined) {
    const why =
      odd === '%'
        ? ', which systemd reads as a specifier'
        : odd === '$'
          ? ', which a shell or Nix reads as a substitution'
          : /\s/.test(odd)
            ? ', which separates entries in a unit file'
            : ''
    return {
      reason: `contains ${shown(odd)}${why}`,
      hint: 'rename the directory, or choose one whose path has letters, digits and . _ - + @ , = : only',
    }
  }
  const segments = path.split('/').slice(1)
  if (
    path !== '/' &&
    (segments.includes('.') || segments.includes('..') || !SAFE_PATH.test(path))
  ) {
    const plain = posix.normalize(path).replace(/(.)\/+$/, '$1')
    return {
      reason: 'is not in its plain form (`.` or `..` segments, `//` or a trailing `/`)',
      hint: `it means ${plain}: write that, if that is what you mean`,
    }
  }
  return undefined
}
