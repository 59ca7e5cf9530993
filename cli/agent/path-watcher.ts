import { watch, type FSWatcher } from 'node:fs'

// Watch mode: file-system events on the synced paths start a pass once they have been quiet
// for `debounceMs` (an editor saving, a copy finishing). Events are a shortcut, never the only
// way a change is found: the daemon still scans everything every interval, so a missed event,
// or a watch that fails (the inotify watch limit, ENOSPC), costs time but never a change. A
// failure is reported once and the watcher falls back to those scans.
export class PathWatcher {
  readonly #watchers: FSWatcher[] = []
  readonly #debounceMs: number
  readonly #log: (line: string) => void
  #timer: NodeJS.Timeout | undefined
  #wake: (() => void) | undefined
  #due = false
  failed = false

  constructor(paths: readonly string[], debounceMs: number, log: (line: string) => void) {
    this.#debounceMs = debounceMs
    this.#log = log
    try {
      for (const p of paths) {
        const watcher = watch(p, { recursive: true, persistent: false })
        watcher.on('change', () => this.#changed())
        watcher.on('error', (error) => this.#fail(error))
        this.#watchers.push(watcher)
      }
    } catch (error) {
      this.#fail(error)
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
    for (const w of this.#watchers.splice(0)) w.close()
  }
}
