// The name a losing version is kept under: `notes.conflict-<host>-<yyyymmdd-hhmmss>.txt`, the
// time being that version's modification time (UTC). Unique among `taken`: `-2`, `-3`, … are
// added when the same second is there already.
export function conflictName(
  path: string,
  host: string,
  mtimeMs: number,
  taken: (candidate: string) => boolean,
): string {
  const slash = path.lastIndexOf('/')
  const dir = path.slice(0, slash + 1)
  const name = path.slice(slash + 1)
  const dot = name.lastIndexOf('.')
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, '']
  const t = new Date(mtimeMs).toISOString() // 2026-11-23T10:41:07.123Z
  const stamp = `${t.slice(0, 4)}${t.slice(5, 7)}${t.slice(8, 10)}-${t.slice(11, 13)}${t.slice(14, 16)}${t.slice(17, 19)}`
  for (let n = 1; ; n++) {
    const candidate = `${dir}${stem}.conflict-${host}-${stamp}${n === 1 ? '' : `-${n}`}${ext}`
    if (!taken(candidate)) return candidate
  }
}

export const isConflictCopy = (path: string) =>
  /\.conflict-[^/]+-\d{8}-\d{6}(?:-\d+)?(?:\.[^./]*)?$/.test(path)
