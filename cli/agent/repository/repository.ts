import { createHash, randomBytes, webcrypto } from 'node:crypto'
import { UserError } from '../../errors.js'
import { checkSizes, DEFAULT_SIZES, type ChunkSizes } from './chunker.js'
import { IntegrityError } from './crypto/integrity-error.js'
import { deriveKeys, type RepositoryKeys } from './crypto/repository-keys.js'
import { open, seal } from './crypto/seal.js'
import { FormatError } from './format/bytes.js'
import { decodeIndex, encodeIndex, type PackContents } from './format/index-object.js'
import { decodeSnapshot, encodeSnapshot, type Snapshot } from './format/snapshot-object.js'
import { keyIdOf, keyName, readKeyInfo, recipientOf, unwrapKey, wrapKey } from './key-ring.js'
import { retrying } from '../../store/retry.js'
import { ObjectMissing, StoreUnavailable, type ReadBuffer, type Store } from '../../store/store.js'

// A repository: the objects in one store and the keys to read them. Object names:
//   config                  the repository id (plain) and its parameters (sealed)
//   keys/<sha256 recipient> the master key wrapped for one device or the recovery key
//   data/<2 hex>/<sha256>   packs
//   index/<sha256>          pack indexes
//   snapshots/<sha256>      snapshots
//   locks/<random>          leases of running backups and prunes
// Every name but `config` and the leases is the SHA-256 of the object's bytes: random-looking,
// and checkable without a key.
export interface Parameters {
  chunker: ChunkSizes
  packSize: number
}

export const DEFAULT_PARAMETERS: Parameters = { chunker: DEFAULT_SIZES, packSize: 8 * 1024 * 1024 }

export interface ObjectCache {
  get(name: string): Buffer | undefined
  set(name: string, bytes: Buffer): void
}

interface ConfigObject {
  version: 1
  id: string
  parameters: string // base64 of the sealed Parameters
}

const CONFIG_AAD = Buffer.from('keystone config v1')

export const sha256hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')
// The same, hashed on libuv's thread pool (WebCrypto): a pack's 8 MiB off the main thread.
export const sha256hexAsync = async (bytes: Uint8Array) =>
  Buffer.from(await webcrypto.subtle.digest('SHA-256', bytes)).toString('hex')
export const packName = (id: string) => `data/${id.slice(0, 2)}/${id}`
export const indexName = (id: string) => `index/${id}`
export const snapshotName = (id: string) => `snapshots/${id}`
export const idOfName = (name: string) => name.slice(name.lastIndexOf('/') + 1)

export class Repository {
  private constructor(
    readonly store: Store,
    readonly id: string,
    readonly master: Buffer,
    readonly keys: RepositoryKeys,
    readonly parameters: Parameters,
  ) {}

  // Creates a new repository, with its master key wrapped for the device and the recovery key.
  static async create(
    store: Store,
    wrapFor: { device: { recipient: string; label: string }; recovery: { recipient: string } },
    parameters: Parameters = DEFAULT_PARAMETERS,
  ): Promise<Repository> {
    checkSizes(parameters.chunker)
    const id = randomBytes(16).toString('hex')
    const master = randomBytes(32)
    const keys = deriveKeys(master, id)
    const device = await wrapKey(
      master,
      keys,
      wrapFor.device.recipient,
      'device',
      wrapFor.device.label,
    )
    const recovery = await wrapKey(
      master,
      keys,
      wrapFor.recovery.recipient,
      'recovery',
      'recovery key',
    )
    await retrying(() => store.put(device.name, device.bytes))
    await retrying(() => store.put(recovery.name, recovery.bytes))
    const config: ConfigObject = {
      version: 1,
      id,
      parameters: seal(keys.seal, Buffer.from(JSON.stringify(parameters)), CONFIG_AAD).toString(
        'base64',
      ),
    }
    // The config is written last and only if absent: two devices initialising the same store
    // at once cannot both win, and a half-initialised store has no config.
    if (!(await retrying(() => store.putIfAbsent('config', Buffer.from(JSON.stringify(config)))))) {
      await Promise.all([store.delete(device.name), store.delete(recovery.name)])
      throw new UserError(`${store.url} already holds a repository`, {
        hint: 'join it with `keystone agent init <store> --recovery-key-file <file>`',
      })
    }
    return new Repository(store, id, master, keys, parameters)
  }

  // Opens the repository with one age identity (a device key or the recovery key). With a
  // cache, the config and this device's key object are kept locally, so the agent can work
  // (and queue) while the store is unreachable.
  static async open(store: Store, identity: string, cache?: ObjectCache): Promise<Repository> {
    const fetch = async (name: string) => {
      try {
        const bytes = await retrying(() => store.get(name))
        cache?.set(name, bytes)
        return bytes
      } catch (error) {
        const cached = error instanceof StoreUnavailable ? cache?.get(name) : undefined
        if (cached === undefined) throw error
        return cached
      }
    }
    // Both objects at once: one round trip to the store instead of two, on every command.
    const name = keyName(keyIdOf(await recipientOf(identity)))
    const [configBytes, wrapped] = await Promise.allSettled([fetch('config'), fetch(name)]).then(
      ([config, key]) => {
        if (config.status === 'rejected') {
          if (config.reason instanceof ObjectMissing)
            throw new UserError(`${store.url} holds no repository`, {
              hint: 'create one with `keystone agent init <store>`',
            })
          throw config.reason
        }
        if (key.status === 'rejected') {
          if (key.reason instanceof ObjectMissing)
            throw new UserError(`this device has no key in ${store.url}`, {
              hint: 'add it from a device that has one (`keystone agent keys add <age recipient>`) or join with the recovery key (`keystone agent init <store> --recovery-key-file <file>`)',
            })
          throw key.reason
        }
        return [config.value, key.value] as const
      },
    )
    const master = await unwrapKey(name, wrapped, identity)
    const config = parseConfig(configBytes)
    const keys = deriveKeys(master, config.id)
    readKeyInfo(name, wrapped, keys) // its MAC: the object is exactly what a device wrote
    const parameters = open(keys.seal, Buffer.from(config.parameters ?? '', 'base64'), CONFIG_AAD)
    if (parameters === undefined)
      throw new IntegrityError('config', 'does not authenticate with this key')
    return new Repository(
      store,
      config.id,
      master,
      keys,
      JSON.parse(parameters.toString('utf8')) as Parameters,
    )
  }

  // An object named by its SHA-256, checked before anything reads it.
  async readAddressed(name: string): Promise<Buffer> {
    const bytes = await retrying(() => this.store.get(name))
    if ((await sha256hexAsync(bytes)) !== idOfName(name))
      throw new IntegrityError(name, 'its content does not match its name (damaged or altered)')
    return bytes
  }

  // An object read for its sealed blobs only (restore): each blob's AEAD tag authenticates
  // what is used, so the whole-object hash is left to `verify`.
  async readSealed(name: string, into?: ReadBuffer): Promise<Buffer> {
    return retrying(() => this.store.get(name, into))
  }

  async readIndex(name: string): Promise<PackContents[]> {
    const bytes = await this.readAddressed(name)
    try {
      return decodeIndex(this.keys.seal, bytes)
    } catch (error) {
      throw asIntegrity(name, error)
    }
  }

  async writeIndex(packs: readonly PackContents[]): Promise<string> {
    const bytes = encodeIndex(this.keys.seal, packs)
    const name = indexName(sha256hex(bytes))
    await retrying(() => this.store.put(name, bytes))
    return name
  }

  async readSnapshot(name: string): Promise<Snapshot> {
    const bytes = await this.readAddressed(name)
    try {
      return decodeSnapshot(this.keys.seal, bytes)
    } catch (error) {
      throw asIntegrity(name, error)
    }
  }

  async writeSnapshot(snapshot: Snapshot): Promise<string> {
    const bytes = encodeSnapshot(this.keys.seal, snapshot)
    const name = snapshotName(sha256hex(bytes))
    await retrying(() => this.store.put(name, bytes))
    return name
  }

  async list(prefix: 'index/' | 'snapshots/' | 'data/' | 'keys/' | 'locks/') {
    return retrying(() => this.store.list(prefix))
  }
}

// The config is canonical JSON (compact, fields in order): any changed byte is refused, either
// here or when its sealed parameters fail to open under keys derived from its id.
function parseConfig(bytes: Buffer): ConfigObject {
  const text = bytes.toString('utf8')
  let config: ConfigObject
  try {
    config = JSON.parse(text) as ConfigObject
  } catch {
    throw new IntegrityError('config', 'not JSON')
  }
  if (
    config.version !== 1 ||
    typeof config.id !== 'string' ||
    Object.keys(config).join() !== 'version,id,parameters' ||
    JSON.stringify(config) !== text
  )
    throw new IntegrityError('config', 'not a version 1 config')
  return config
}

export function asIntegrity(name: string, error: unknown): Error {
  if (error instanceof FormatError || error instanceof SyntaxError)
    return new IntegrityError(name, error.message)
  return error as Error
}
