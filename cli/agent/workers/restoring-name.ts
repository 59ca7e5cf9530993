// Where a restore writes a file before it is verified whole: beside its real name, hidden, and
// named after the run, so that a crash leaves nothing under a real name and a later run can
// tell its own files from what it finds. The main thread and the restore workers both make it
// from the entry's manifest path, so a placement carries that path (a string the manifest holds
// anyway) rather than a second string per file: at 200,000 files the built names were 140 MiB.
export interface RestoringName {
  base: string // the target, ending in '/'
  run: string
}

export function restoringName({ base, run }: RestoringName, manifestPath: string): string {
  const slash = manifestPath.lastIndexOf('/')
  return `${base}${manifestPath.slice(0, slash + 1)}.${manifestPath.slice(slash + 1)}.${run}.restoring`
}
