import { parseSize } from './sizes.js'

// ZFS dataset property values that disko passes to `zfs create -o` unchecked: a typo here would
// only surface as a failed install half-way through formatting. Names and values from zfsprops(7).

type Check = (value: string) => string | undefined

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
  const bytes = parseSize(value)
  const ok = bytes !== undefined && bytes >= 512 && bytes <= 16 * 2 ** 20 && (bytes & (bytes - 1)) === 0
  return ok ? undefined : `expected a power of two from 512 to 16M such as 128K or 1M, got \`${value}\``
}

// keylocation takes `prompt` or a URI; OpenZFS understands file://, https:// and http://.
const keylocation: Check = (value) =>
  value === 'prompt' || /^file:\/\/\/\S+$/.test(value) || /^https?:\/\/\S+$/.test(value)
    ? undefined
    : `expected prompt, file:///<absolute path> or https://<url>, got \`${value}\``

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

export type PropertyProblem = { message: string; hint?: string }

export function checkZfsProperty(name: string, value: string): PropertyProblem | undefined {
  const owned = OWNED[name]
  if (owned !== undefined) return { message: `\`${name}\` is set by Keystone`, hint: owned }
  // User properties (module:property) are free-form by definition.
  if (name.includes(':')) return undefined
  const check = ZFS_PROPERTY_CHECKS[name]
  if (check === undefined) {
    return {
      message: `unknown ZFS property \`${name}\``,
      hint: `known properties: ${Object.keys(ZFS_PROPERTY_CHECKS).join(', ')}; user properties contain a colon`,
    }
  }
  const problem = check(value)
  return problem === undefined ? undefined : { message: problem }
}
