import { constants, promises as fs } from 'node:fs'
import path from 'node:path'
import { syncDir, writeFileDurable, writeTempSynced } from '../fs/durable.js'
import {
  ObjectMissing,
  StoreUnavailable,
  type ReadBuffer,
  type Store,
  type StoredObject,
} from './store.js'

// A repository in a local folder (an external disk, a NAS mount). Writes go to a temporary
// name, are fsynced, then renamed into place and the directory fsynced: an object either exists
// whole or not at all, even across a power cut. A missing root (an unplugged disk) makes the
// store unavailable, not empty.
export class FileStore implements Store {
  readonly url: string
  readonly #root: string

  constructor(root: string) {
    this.#root = path.resolve(root)
    this.url = `file://${this.#root}`
  }

  async create(): Promise<void> {
    await fs.mkdir(this.#root, { recursive: true, mode: 0o700 })
  }

  async #checkRoot(): Promise<void> {
    try {
      await fs.access(this.#root, constants.W_OK)
    } catch (error) {
      throw new StoreUnavailable(`${this.#root} is not reachable: ${(error as Error).message}`)
    }
  }

  #file(name: string): string {
    if (name.split('/').some((part) => part === '' || part === '.' || part === '..'))
      throw new TypeError(`bad object name ${name}`)
    return path.join(this.#root, name)
  }

  async get(name: string, into?: ReadBuffer): Promise<Buffer> {
    try {
      return into === undefined
        ? await fs.readFile(this.#file(name))
        : await readInto(this.#file(name), into)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
      await this.#checkRoot()
      throw new ObjectMissing(name)
    }
  }

  async put(name: string, data: Uint8Array): Promise<void> {
    await this.#checkRoot()
    await writeFileDurable(this.#file(name), data)
  }

  async putIfAbsent(name: string, data: Uint8Array): Promise<boolean> {
    await this.#checkRoot()
    const file = this.#file(name)
    const temp = await writeTempSynced(file, data)
    try {
      await fs.link(temp, file) // fails with EEXIST: the atomic "create only if absent"
      await syncDir(path.dirname(file))
      return true
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw error
    } finally {
      await fs.rm(temp, { force: true })
    }
  }

  async list(prefix: string): Promise<StoredObject[]> {
    await this.#checkRoot()
    const out: StoredObject[] = []
    const walk = async (dir: string, rel: string): Promise<void> => {
      let entries
      try {
        entries = await fs.readdir(dir, { withFileTypes: true })
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
        throw error
      }
      for (const entry of entries) {
        const name = rel === '' ? entry.name : `${rel}/${entry.name}`
        if (entry.isDirectory()) await walk(path.join(dir, entry.name), name)
        else if (entry.isFile() && !entry.name.includes('.tmp-') && name.startsWith(prefix)) {
          const stat = await fs.stat(path.join(dir, entry.name))
          out.push({ name, size: stat.size })
        }
      }
    }
    const top = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : ''
    await walk(top === '' ? this.#root : this.#file(top), top)
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }

  async delete(name: string): Promise<void> {
    await this.#checkRoot()
    await fs.rm(this.#file(name), { force: true })
  }
}

// A whole file read into the buffer `into` gives for its length.
async function readInto(file: string, into: ReadBuffer): Promise<Buffer> {
  const handle = await fs.open(file, 'r')
  try {
    const { size } = await handle.stat()
    const out = into(size).subarray(0, size)
    for (let at = 0; at < size;) {
      const { bytesRead } = await handle.read(out, at, size - at, at)
      if (bytesRead === 0)
        throw new StoreUnavailable(`${file}: shorter than its size (${at} of ${size} bytes)`)
      at += bytesRead
    }
    return out
  } finally {
    await handle.close()
  }
}
