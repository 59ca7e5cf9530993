import type { Entry } from '../../cli/agent/repository/format/manifest.js'

// An empty file's manifest entry: what tests of path handling need, and nothing else.
export const emptyFile = (path: string): Entry => ({
  type: 'file',
  path,
  mode: 0o644,
  uid: 0,
  gid: 0,
  mtimeNs: 0n,
  size: 0,
  chunks: [],
})
