import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { UsageError, UserError } from '../errors.js'
import { newIdentity, recipientOf } from '../vault/age.js'
import { AgentHome, type AgentSettings } from './home/agent-home.js'
import { fingerprint, keyIdOf, wrapKey } from './repository/key-ring.js'
import { DEFAULT_PARAMETERS, Repository } from './repository/repository.js'
import { openStore, type StoreSettings } from '../store/open-store.js'
import { ObjectMissing, type Store } from '../store/store.js'

// `keystone agent init`: creates a repository in an empty store, or joins the repository
// already there with the recovery key (a new or reinstalled device). Either way this device
// gets its own age key, wrapped around the master key in the store.
export interface InitOptions extends StoreSettings {
  label: string
  compression: boolean
  recoveryKeyFile?: string // join: the recovery key to unwrap with
  deviceKeyFile?: string // join: this device's own age key, which an admin already added
  writeRecoveryKey?: string // create, without a terminal: where to write the recovery key
  showRecoveryKey: (key: string, fingerprint: string) => void // on the terminal
  terminal: boolean
}

export interface InitResult {
  created: boolean
  repository: string
  recoveryFingerprint?: string
}

export async function init(home: AgentHome, options: InitOptions): Promise<InitResult> {
  if (home.exists())
    throw new UserError(`${home.dir} already has a repository (${home.readSettings().store})`, {
      hint: 'use another --agent-dir, or remove that directory to start over',
    })
  const settings: AgentSettings = {
    version: 1,
    store: options.store,
    label: options.label,
    compression: options.compression,
    ...(options.endpoint !== undefined && { endpoint: options.endpoint }),
    ...(options.region !== undefined && { region: options.region }),
    ...(options.pathStyle !== undefined && { pathStyle: options.pathStyle }),
    ...(options.credentialsFile !== undefined && { credentialsFile: options.credentialsFile }),
    ...(options.caFile !== undefined && { caFile: options.caFile }),
    ...(options.deviceKeyFile !== undefined && { deviceKeyFile: options.deviceKeyFile }),
  }
  const store = await openStore(settings)
  await store.create()
  const exists = await store.get('config').then(
    () => true,
    (error: unknown) => {
      if (error instanceof ObjectMissing) return false
      throw error
    },
  )
  const joining = options.recoveryKeyFile !== undefined || options.deviceKeyFile !== undefined
  if (!exists && joining)
    throw new UserError(`${store.url} holds no repository to join`, {
      hint: "create it first: `keystone agent init <store>` on the admin's machine",
    })
  if (options.deviceKeyFile !== undefined)
    return joinWithDeviceKey(home, store, settings, options.deviceKeyFile)
  if (exists && options.recoveryKeyFile === undefined)
    throw new UserError(`${store.url} already holds a repository`, {
      hint: 'join it with `keystone agent init <store> --recovery-key-file <file>`, or add this device from another one',
    })
  if (!exists && !options.terminal && options.writeRecoveryKey === undefined)
    throw new UsageError(
      'no terminal to show the recovery key on',
      'pass --write-recovery-key <file> (a private place, e.g. a USB stick) to save it instead',
    )
  if (options.writeRecoveryKey !== undefined && existsSync(options.writeRecoveryKey))
    throw new UsageError(
      `${options.writeRecoveryKey} already exists`,
      'name a new file: a recovery key is never overwritten',
    )

  const device = await newIdentity()
  if (exists) {
    const recovery = readRecoveryKey(options.recoveryKeyFile!)
    const repo = await Repository.open(store, recovery).catch((error: unknown) => {
      if (error instanceof UserError && /has no key in/.test(error.message))
        throw new UserError(
          `${options.recoveryKeyFile} is not the recovery key of the repository in ${store.url}`,
          {
            hint: 'use the recovery key printed when this repository was created, or add this device from another one (`keystone agent keys add`)',
          },
        )
      throw error
    })
    const wrapped = await wrapKey(repo.master, repo.keys, device.recipient, 'device', options.label)
    await store.put(wrapped.name, wrapped.bytes)
  } else {
    const recovery = await newIdentity()
    const print = fingerprint(keyIdOf(recovery.recipient))
    // The recovery key is shown (or saved) before the repository exists: there is no moment in
    // which data depends on a key nobody has seen.
    if (options.writeRecoveryKey !== undefined)
      writeFileSync(options.writeRecoveryKey, recovery.identity + '\n', { mode: 0o600, flag: 'wx' })
    else options.showRecoveryKey(recovery.identity, print)
    try {
      await Repository.create(
        store,
        {
          device: { recipient: device.recipient, label: options.label },
          recovery: { recipient: await recipientOf(recovery.identity) },
        },
        DEFAULT_PARAMETERS,
      )
    } catch (error) {
      // No repository, so no use for its recovery key: a second try may name the same file.
      if (options.writeRecoveryKey !== undefined) rmSync(options.writeRecoveryKey, { force: true })
      throw error
    }
  }
  home.writePrivate(home.deviceKeyFile, device.identity + '\n')
  home.writeSettings(settings)
  const repo = await Repository.open(store, device.identity, home.cache())
  return { created: !exists, repository: repo.id }
}

// A device whose age key an admin added to the key ring (`keystone agent keys add`): nothing is
// written to the store, and the key stays where it is.
async function joinWithDeviceKey(
  home: AgentHome,
  store: Store,
  settings: AgentSettings,
  file: string,
): Promise<InitResult> {
  let identity: string
  try {
    identity = readFileSync(file, 'utf8').trim()
  } catch (error) {
    throw new UserError(
      `${file}: cannot read this device's key (${(error as NodeJS.ErrnoException).code})`,
    )
  }
  const repo = await Repository.open(store, identity).catch(async (error: unknown) => {
    if (error instanceof UserError && /has no key in/.test(error.message))
      throw new UserError(
        `this device's key is not in the key ring of the repository in ${store.url}`,
        {
          hint: `add it from a device that is: \`keystone agent keys add ${await recipientOf(identity)} --label ${settings.label}\``,
        },
      )
    throw error
  })
  home.writeSettings(settings)
  return { created: false, repository: repo.id }
}

function readRecoveryKey(file: string): string {
  let text: string
  try {
    text = readFileSync(file, 'utf8').trim()
  } catch (error) {
    throw new UserError(
      `${file}: cannot read the recovery key (${(error as NodeJS.ErrnoException).code})`,
    )
  }
  if (!/^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/.test(text))
    throw new UserError(`${file} does not hold a recovery key`, {
      hint: 'a recovery key is one line starting with AGE-SECRET-KEY-1, as `keystone agent init` printed it',
    })
  return text
}
