import { closestMatch } from '../ui/closest-match.js'
import { parseSize } from './sizes.js'

// ZFS dataset property values that disko passes to `zfs create -o` unchecked: a typo here would
// only surface as a failed install half-way through formatting. Names and values from zfsprops(7).

// `aboutName`: the property itself is wrong, so the problem points at the key, not the value.
export type PropertyProblem = { message: string; hint?: string; aboutName?: true }

// A message, or a message with the fix when the fix is not obvious from it.
type Check = (value: string) => string | PropertyProblem | undefined

const oneOf =
  (...values: string[]): Check =>
  (value) =>
    values.includes(value) ? undefined : `expected one of ${values.join(', ')}, got \`${value}\``

const onOff = oneOf('on', 'off')

const sizeOrNone: Check = (value) =>
  value === 'none' || parseSize(value) !== undefined
    ? undefined
    : `expected a size such as 10G, or none, got \`${value}\``

const compression: Check = (value) =>
  /^(on|off|lz4|lzjb|zle|gzip(-[1-9])?|zstd(-([1-9]|1[0-9]))?|zstd-fast(-([1-9]|[1-9]0|100|500|1000))?)$/.test(value)
    ? undefined
    : `expected on, off, lz4, zstd, zstd-<1-19>, gzip-<1-9>, lzjb or zle, got \`${value}\``

const recordsize: Check = (value) => {
  const bytes = /^[1-9][0-9]*$/.test(value) ? Number(value) : parseSize(value)
  const ok = bytes !== undefined && bytes >= 512 && bytes <= 16 * 2 ** 20 && (bytes & (bytes - 1)) === 0
  return ok ? undefined : `expected a power of two from 512 to 16M such as 128K or 1M, got \`${value}\``
}

// keylocation takes `prompt` or a URI. OpenZFS also fetches http://, but then the key crosses the
// network in clear, so only file:// and https:// are accepted.
const keylocation: Check = (value) => {
  if (value === 'prompt' || /^file:\/\/\/\S+$/.test(value) || /^https:\/\/\S+$/.test(value)) return undefined
  const message = `expected prompt, file:///<absolute path> or https://<url>, got \`${value}\``
  if (/^\/\S+$/.test(value)) return { message, hint: `a path is written as a URI: file://${value}` }
  if (value.startsWith('http://')) return { message, hint: 'fetch the key over https://; over http:// anyone on the way can read it' }
  return message
}

export const ZFS_PROPERTY_CHECKS: Record<string, Check> = {
  acltype: oneOf('off', 'noacl', 'nfsv4', 'posix', 'posixacl'),
  atime: onOff,
  canmount: oneOf('on', 'off', 'noauto'),
  checksum: oneOf('on', 'off', 'fletcher2', 'fletcher4', 'sha256', 'noparity', 'sha512', 'skein', 'edonr', 'blake3'),
  compression,
  copies: oneOf('1', '2', '3'),
  dedup: oneOf('off', 'on', 'verify', 'sha256', 'sha512', 'skein', 'edonr', 'blake3'),
  devices: onOff,
  dnodesize: oneOf('legacy', 'auto', '1k', '2k', '4k', '8k', '16k'),
  encryption: oneOf('off', 'on', 'aes-128-ccm', 'aes-192-ccm', 'aes-256-ccm', 'aes-128-gcm', 'aes-192-gcm', 'aes-256-gcm'),
  exec: onOff,
  keyformat: oneOf('raw', 'hex', 'passphrase'),
  keylocation,
  logbias: oneOf('latency', 'throughput'),
  primarycache: oneOf('all', 'none', 'metadata'),
  quota: sizeOrNone,
  readonly: onOff,
  recordsize,
  redundant_metadata: oneOf('all', 'most', 'some', 'none'),
  refquota: sizeOrNone,
  refreservation: sizeOrNone,
  relatime: onOff,
  reservation: sizeOrNone,
  secondarycache: oneOf('all', 'none', 'metadata'),
  setuid: onOff,
  snapdir: oneOf('hidden', 'visible'),
  special_small_blocks: (value) => (value === '0' || parseSize(value) !== undefined ? undefined : `expected a size, got \`${value}\``),
  sync: oneOf('standard', 'always', 'disabled'),
  xattr: oneOf('on', 'off', 'dir', 'sa'),
}

// Properties Keystone owns: setting them in a host file would break the boot chain or the layout.
const OWNED: Record<string, string> = {
  mountpoint: 'use the dataset\'s `mountpoint:` field instead',
}

export function checkZfsProperty(name: string, value: string): PropertyProblem | undefined {
  // Own keys only: `constructor` or `toString` from a host file must not find Object's methods.
  const owned = Object.hasOwn(OWNED, name) ? OWNED[name] : undefined
  if (owned !== undefined) return { message: `\`${name}\` is set by Keystone`, hint: owned, aboutName: true }
  // User properties (module:property) are free-form by definition.
  if (name.includes(':')) return undefined
  const check = Object.hasOwn(ZFS_PROPERTY_CHECKS, name) ? ZFS_PROPERTY_CHECKS[name] : undefined
  if (check === undefined) {
    const known = Object.keys(ZFS_PROPERTY_CHECKS)
    const guess = closestMatch(name, known)
    return {
      message: `unknown ZFS property \`${name}\``,
      hint: guess === undefined ? `known properties: ${known.join(', ')}; user properties contain a colon` : `did you mean \`${guess}\`?`,
      aboutName: true,
    }
  }
  const problem = check(value)
  return typeof problem === 'string' ? { message: problem } : problem
}
