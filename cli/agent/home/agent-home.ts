import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { UserError } from '../../errors.js'
import { Outbox } from './outbox.js'
import { Repository, type ObjectCache } from '../repository/repository.js'
import { AgentState } from './state.js'
import { openStore, type StoreSettings } from '../../store/open-store.js'
import type { Store } from '../../store/store.js'

// The agent's directory on one device:
//   agent.json   where the repository is (store URL, endpoint, credentials file) and this
//                device's label
//   device.key   this device's age identity (0600), which unwraps the master key
//   state.db     the SQLite state (file index, known blobs, queue)
//   spool/       encrypted objects waiting for the store
//   cache/       the config and this device's key object, to work while the store is down
export interface AgentSettings extends StoreSettings {
  version: 1
  label: string
  compression: boolean
  // A key kept elsewhere instead of device.key: a Keystone host's own age key, handed to the
  // service as a systemd credential (the NixOS module).
  deviceKeyFile?: string
}

export class AgentHome {
  constructor(readonly dir: string) {}

  get settingsFile(): string {
    return path.join(this.dir, 'agent.json')
  }
  get deviceKeyFile(): string {
    return path.join(this.dir, 'device.key')
  }
  get stateFile(): string {
    return path.join(this.dir, 'state.db')
  }
  get spoolDir(): string {
    return path.join(this.dir, 'spool')
  }

  exists(): boolean {
    return existsSync(this.settingsFile)
  }

  readSettings(): AgentSettings {
    if (!this.exists())
      throw new UserError(`no repository is set up in ${this.dir}`, {
        hint: 'create one with `keystone agent init file:///path` or `keystone agent init s3://bucket/prefix`, or point --agent-dir at an agent directory',
      })
    try {
      return JSON.parse(readFileSync(this.settingsFile, 'utf8')) as AgentSettings
    } catch (error) {
      throw new UserError(`${this.settingsFile}: not readable JSON (${(error as Error).message})`, {
        hint: '`keystone agent init` wrote it; restore it, or init a new agent directory and join with the recovery key',
      })
    }
  }

  // Written whole under a temporary name, then renamed: never a half-written settings file.
  writePrivate(file: string, content: string): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 })
    const temp = `${file}.tmp`
    writeFileSync(temp, content, { mode: 0o600 })
    renameSync(temp, file)
  }

  writeSettings(settings: AgentSettings): void {
    this.writePrivate(this.settingsFile, JSON.stringify(settings, null, 2) + '\n')
  }

  // The file this device's key is read from: device.key, or the one agent.json names.
  keyFile(): string {
    return this.readSettings().deviceKeyFile ?? this.deviceKeyFile
  }

  readDeviceKey(): string {
    const file = this.keyFile()
    try {
      return readFileSync(file, 'utf8').trim()
    } catch {
      throw new UserError(`${file}: this device's key is missing`, {
        hint: 'join again with the recovery key: `keystone agent init <store> --recovery-key-file <file>`',
      })
    }
  }

  cache(): ObjectCache {
    const dir = path.join(this.dir, 'cache')
    const file = (name: string) => path.join(dir, name.replaceAll('/', '_'))
    return {
      get: (name) => (existsSync(file(name)) ? readFileSync(file(name)) : undefined),
      set: (name, bytes) => {
        mkdirSync(dir, { recursive: true, mode: 0o700 })
        writeFileSync(file(name), bytes, { mode: 0o600 })
      },
    }
  }
}

export interface Agent {
  home: AgentHome
  settings: AgentSettings
  store: Store
  repo: Repository
  state: AgentState
  outbox: Outbox
}

export async function openAgent(dir: string): Promise<Agent> {
  const home = new AgentHome(dir)
  const settings = home.readSettings()
  const store = await openStore(settings)
  const repo = await Repository.open(store, home.readDeviceKey(), home.cache())
  const state = new AgentState(home.stateFile)
  if (state.meta('repository') === undefined) state.setMeta('repository', repo.id)
  else if (state.meta('repository') !== repo.id)
    throw new UserError(`${home.stateFile} belongs to another repository than ${store.url}`, {
      hint: 'use another --agent-dir for the other repository',
    })
  const outbox = new Outbox(store, state, home.spoolDir)
  await outbox.removeStrays()
  return { home, settings, store, repo, state, outbox }
}

// Opens the agent in `dir`, runs `fn` with it, and closes its SQLite state on every path out.
export async function withAgent<T>(dir: string, fn: (agent: Agent) => Promise<T>): Promise<T> {
  const agent = await openAgent(dir)
  try {
    return await fn(agent)
  } finally {
    agent.state.close()
  }
}
