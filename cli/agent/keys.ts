import { UserError } from '../errors.js'
import { AGE_RECIPIENT, recipientOf } from '../vault/age.js'
import {
  fingerprint,
  keyIdOf,
  keyName,
  readKeyInfo,
  wrapKey,
  type KeyInfo,
} from './repository/key-ring.js'
import type { Repository } from './repository/repository.js'
import { ObjectMissing } from '../store/store.js'

// `keystone agent keys`: the device keys and the recovery key that unwrap the master key.
export interface KeyListing extends KeyInfo {
  fingerprint: string
  thisDevice: boolean
}

export async function listKeys(repo: Repository, deviceIdentity: string): Promise<KeyListing[]> {
  const own = keyIdOf(await recipientOf(deviceIdentity))
  const out: KeyListing[] = []
  for (const o of await repo.list('keys/')) {
    const info = readKeyInfo(o.name, await repo.store.get(o.name), repo.keys)
    out.push({ ...info, fingerprint: fingerprint(info.id), thisDevice: info.id === own })
  }
  return out.sort((a, b) => a.kind.localeCompare(b.kind) || a.created.localeCompare(b.created))
}

export async function addKey(
  repo: Repository,
  recipient: string,
  label: string,
): Promise<KeyListing> {
  if (!AGE_RECIPIENT.test(recipient))
    throw new UserError(`"${recipient}" is not an age recipient`, {
      hint: 'an age recipient starts with age1 (`age-keygen -y key.txt` prints it)',
    })
  const id = keyIdOf(recipient)
  const exists = await repo.store.get(keyName(id)).then(
    () => true,
    (error: unknown) => (error instanceof ObjectMissing ? false : Promise.reject(error)),
  )
  if (exists) throw new UserError(`${recipient} already has a key in this repository`)
  const wrapped = await wrapKey(repo.master, repo.keys, recipient, 'device', label)
  await repo.store.put(wrapped.name, wrapped.bytes)
  return {
    id,
    kind: 'device',
    created: new Date().toISOString(),
    label,
    fingerprint: fingerprint(id),
    thisDevice: false,
  }
}

// Removes a device key by id prefix or fingerprint. The recovery key stays, and so does the
// last device key: a repository always has a key to unwrap with besides the recovery key.
export async function removeKey(
  repo: Repository,
  deviceIdentity: string,
  wanted: string,
): Promise<KeyListing> {
  const keys = await listKeys(repo, deviceIdentity)
  const needle = wanted.replaceAll('-', '').toLowerCase()
  const matches = keys.filter((k) => k.id.startsWith(needle))
  if (needle.length < 4 || matches.length !== 1)
    throw new UserError(
      matches.length > 1 ? `${wanted} matches ${matches.length} keys` : `no key ${wanted}`,
      { hint: 'see `keystone agent keys`' },
    )
  const key = matches[0]!
  if (key.kind === 'recovery')
    throw new UserError('the recovery key cannot be removed', {
      hint: 'it is what recovers the data when every device is lost',
    })
  if (keys.filter((k) => k.kind === 'device').length === 1)
    throw new UserError('this is the last device key', {
      hint: 'add another device first (`keystone agent keys add`)',
    })
  await repo.store.delete(keyName(key.id))
  return key
}
