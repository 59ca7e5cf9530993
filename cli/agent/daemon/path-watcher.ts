import { lstatSync, readdirSync, watch, type FSWatcher } from 'node:fs'
import path from 'node:path'

// Watch mode: file-system events on the synced paths start a pass once they have been quiet
// for `debounceMs` (an editor saving, a copy finishing). Events are a shortcut, never the only
// way a change is found: the daemon still scans everything every interval, so a missed event,
// or a watch that fails (the inotify watch limit, ENOSPC), costs time but never a change. A
// failure is reported once and the watcher falls back to those scans.
//
// One inotify watch per directory, set here rather than by Node's recursive mode: Node sets the
// watches of subdirectories later, and when the limit is reached it says so only if something
// changes in a directory it still watches — a change elsewhere would be missed in silence.
// Watching each directory directly, the limit shows at once, as ENOSPC from watch().
export class PathWatcher {
  readonly #watchers = new Map<string, FSWatcher>()
  readonly #debounceMs: number
  readonly #log: (line: string) => void
  #timer: NodeJS.Timeout | undefined
  #wake: (() => void) | undefined
  #due = false
  failed = false

  constructor(paths: readonly string[], debounceMs: number, log: (line: string) => void) {
    this.#debounceMs = debounceMs
    this.#log = log
    for (const p of paths) this.#watchTree(path.resolve(p))
  }

  #watchTree(dir: string): void {
    if (this.failed || this.#watchers.has(dir)) return
    let names
    try {
      const watcher = watch(dir, { persistent: false })
      watcher.on('change', (type, name) => {
        this.#changed()
        // A new directory gets watches of its own; a removed one gives its watch back.
        if (type === 'rename' && typeof name === 'string') this.#renamed(path.join(dir, name))
      })
      watcher.on('error', (error) => this.#fail(error))
      this.#watchers.set(dir, watcher)
      names = readdirSync(dir, { withFileTypes: true })
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT' || code === 'ENOTDIR') return // gone meanwhile
      return this.#fail(error)
    }
    for (const entry of names) if (entry.isDirectory()) this.#watchTree(path.join(dir, entry.name))
  }

  #renamed(file: string): void {
    const stat = lstatSync(file, { throwIfNoEntry: false })
    if (stat?.isDirectory()) return this.#watchTree(file)
    for (const [dir, watcher] of this.#watchers)
      if (dir === file || dir.startsWith(file + '/')) {
        watcher.close()
        this.#watchers.delete(dir)
      }
  }

  #changed(): void {
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#due = true
      this.#wake?.()
    }, this.#debounceMs)
  }

  #fail(error: unknown): void {
    if (!this.failed) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message
      this.#log(
        `watching for changes failed (${code}${code === 'ENOSPC' ? ': the inotify watch limit, fs.inotify.max_user_watches' : ''}); changes are found by the scan every interval instead`,
      )
    }
    this.failed = true
    this.close()
  }

  // Resolves when changes have settled (at once if they already have), or when `signal` aborts.
  settled(signal: AbortSignal): Promise<void> {
    if (this.#due) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        this.#wake = undefined
        signal.removeEventListener('abort', done)
        resolve()
      }
      this.#wake = done
      signal.addEventListener('abort', done, { once: true })
    })
  }

  // A pass is starting: the changes so far are its to find.
  consume(): void {
    this.#due = false
  }

  close(): void {
    clearTimeout(this.#timer)
    for (const w of this.#watchers.values()) w.close()
    this.#watchers.clear()
  }
}
