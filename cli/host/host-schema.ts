import { Type, type Static } from '@sinclair/typebox'
import { HOST_NAME_PATTERN } from './host-name.js'
import { Defaulted, Nullable, StringEnum, type Resolved } from './schema-helpers.js'

// The source of truth for a host file: the TypeScript `Host` type and `schema/host.schema.json`
// both come from this one definition. Rules that a JSON Schema cannot express (sizes, SSH key
// blobs, fleet-wide uniqueness) live in `semantic-checks.ts`.
// Over 300 lines: the whole host file is one type, and its schema reads best as one definition.

export { HOST_NAME_PATTERN, suggestHostName } from './host-name.js'
const USER_NAME_PATTERN = '^[a-z_][a-z0-9_-]{0,31}$'
// disko's gpt size type is `100%` or `[0-9]+[KMGTP]?` (nix-community/disko lib/types/gpt.nix).
const SIZE_PATTERN = '^[1-9][0-9]*[KMGT]$'

const SIZE_HINT =
  'write a whole number followed by K, M, G or T (powers of 1024); only storage.poolSize may be 100%'

const Size = (description: string, example: string) =>
  Type.String({
    pattern: SIZE_PATTERN,
    description,
    examples: [example],
    errorMessage: 'a size such as 512M, 8G or 2T',
    'x-hint': SIZE_HINT,
  })

const SshPublicKey = Type.String({
  description: 'An OpenSSH public key line: `<type> <base64> [comment]`.',
  examples: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB8ptXB7PQ5cMxkQXJJ8zMCXAPgwhiE4f4PXHqTyBd+s alice@laptop'],
})

const Admin = Type.Object(
  {
    name: Type.String({
      pattern: USER_NAME_PATTERN,
      description: 'Login name of the admin on the host.',
      errorMessage: 'a lowercase login name (letters, digits, _ and -, at most 32)',
    }),
    sshKeys: Type.Array(SshPublicKey, {
      minItems: 1,
      description: 'Public keys allowed to log in as this admin (and to unlock remotely).',
    }),
  },
  { additionalProperties: false },
)

const Ssh = Type.Object(
  {
    address: Type.String({
      minLength: 1,
      description: 'Address the admin laptop uses to reach the host: DNS name or IP.',
      examples: ['web1.example.org', '192.0.2.10'],
    }),
    port: Defaulted(Type.Integer({ minimum: 1, maximum: 65535, description: 'SSH port.' }), 22),
    user: Defaulted(
      Type.String({ pattern: USER_NAME_PATTERN, description: 'User Keystone logs in as (root, or one with sudo).' }),
      'root',
    ),
    hostKey: Defaulted(
      Nullable(SshPublicKey, {
        description: 'The host\'s SSH public host key, pinned by `keystone deploy`. Later connections must present it.',
      }),
      null,
    ),
  },
  { additionalProperties: false, description: 'How the admin laptop reaches the host over SSH.' },
)

// One name under /dev/disk/by-id/, as udev makes them (letters, digits, `_ - . : + @ , =`, and
// `\x20`-style escapes): no `..`, no further `/`, no whitespace or control characters.
const DISK_PATH = {
  pattern: '^/dev/disk/by-id/(?!\\.\\.?$)([A-Za-z0-9_.:+@,=-]|\\\\x[0-9a-fA-F]{2})+$',
  errorMessage: 'a /dev/disk/by-id/ path',
  'x-hint':
    'device names such as /dev/sda change between boots and can wipe the wrong disk; run `ls -l /dev/disk/by-id/` on the machine and use that path',
}

// What `keystone deploy` found on a disk it installed; a later deploy refuses a disk that differs.
const PinnedDisk = Type.Object(
  {
    path: Type.String({ ...DISK_PATH, description: 'Stable device path of the disk.' }),
    sizeBytes: Defaulted(
      Nullable(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }), {
        description: 'Size in bytes as the kernel reports it (`lsblk -bdno SIZE`), pinned at deploy.',
      }),
      null,
    ),
    serial: Defaulted(
      Nullable(Type.String({ minLength: 1 }), { description: 'Serial number the disk reports, pinned at deploy.' }),
      null,
    ),
  },
  { additionalProperties: false },
)

// A disk is its by-id path, or the same path with the facts deploy pinned. One node of two types
// rather than an anyOf: `pattern` applies only to strings and `properties` only to objects (JSON
// Schema Validation §6), so a wrong path or a wrong key gives exactly one error.
const DiskEntry = Type.Unsafe<string | Static<typeof PinnedDisk>>({
  ...DISK_PATH,
  type: ['string', 'object'],
  description:
    'Stable device path of a disk that Keystone will wipe at deploy; `keystone deploy` turns it into `{ path, sizeBytes, serial }`.',
  examples: ['/dev/disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S5GXNX0T123456A'],
  properties: PinnedDisk.properties,
  required: PinnedDisk.required,
  additionalProperties: false,
})

const Dataset = Type.Object(
  {
    name: Type.String({
      pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]*(/[A-Za-z0-9][A-Za-z0-9_.:-]*)*$',
      description: 'Dataset name below `<pool>/crypt`, e.g. `data` or `data/photos`.',
      errorMessage: 'a ZFS dataset name such as `data` or `srv/photos`',
    }),
    mountpoint: Defaulted(
      Nullable(Type.String({ pattern: '^/' }), {
        description: 'Where the dataset is mounted; null for a dataset that is not mounted.',
      }),
      null,
    ),
    options: Defaulted(
      Type.Record(Type.String(), Type.String(), {
        description: 'ZFS properties for this dataset (`zfs create -o key=value`).',
        examples: [{ recordsize: '1M', 'com.sun:auto-snapshot': 'true' }],
      }),
      {},
    ),
  },
  { additionalProperties: false },
)

const Storage = Type.Object(
  {
    layout: Defaulted(
      StringEnum(['single', 'mirror'], { description: 'One disk, or a ZFS mirror over all disks.' }),
      'single',
    ),
    disks: Type.Array(DiskEntry, {
      minItems: 1,
      description: 'Disks by id; the first carries the ESP (every disk does in a mirror).',
    }),
    espSize: Defaulted(Size('Size of the EFI system partition mounted on /boot.', '1G'), '1G'),
    swapSize: Defaulted(
      // `swapSize: 0` is natural YAML, so the integer 0 is accepted beside the string "0".
      Type.Unsafe<string | 0>({
        type: ['string', 'integer'],
        pattern: '^(0|[1-9][0-9]*[KMGT])$',
        minimum: 0,
        maximum: 0,
        description: 'Swap at the end of the last disk, encrypted with a new random key at each boot; 0 for none.',
        examples: ['8G'],
        errorMessage: 'a size such as 8G, or 0 for no swap',
        'x-hint': SIZE_HINT,
      }),
      '8G',
    ),
    poolSize: Defaulted(
      Type.String({
        pattern: '^(100%|[1-9][0-9]*[KMGT])$',
        description: 'Size of the ZFS partition: 100% for the rest of the disk (minus swap), or a fixed size.',
        errorMessage: '100% or a size such as 500G',
        'x-hint': 'disko accepts only 100% or a whole number with K, M, G or T',
      }),
      '100%',
    ),
    credstoreSize: Defaulted(Size('Size of the LUKS credstore zvol that holds the ZFS key.', '100M'), '100M'),
    pool: Defaulted(
      Type.Object(
        {
          name: Defaulted(
            Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_.:-]*$', description: 'ZFS pool name.' }),
            'rpool',
          ),
          compression: Defaulted(
            Type.String({ description: 'Compression of the root dataset, inherited by all others.', examples: ['zstd', 'lz4'] }),
            'zstd',
          ),
          ashift: Defaulted(Type.Integer({ minimum: 9, maximum: 16, description: 'log2 of the sector size.' }), 12),
          arcMax: Defaulted(Size('Upper bound of the ZFS ARC cache in RAM.', '4G'), '4G'),
        },
        { additionalProperties: false },
      ),
      {},
    ),
    datasets: Defaulted(Type.Array(Dataset, { description: 'Extra datasets, all encrypted under `<pool>/crypt`.' }), []),
  },
  { additionalProperties: false, description: 'Disk layout: ESP, encrypted ZFS pool, credstore, swap.' },
)

const SecureBoot = Type.Object(
  {
    enable: Defaulted(Type.Boolean({ description: 'Boot through Lanzaboote with Secure Boot.' }), true),
    microsoftKeys: Defaulted(
      Type.Boolean({ description: 'Also enroll Microsoft\'s keys (needed by most GPU and NIC option ROMs).' }),
      true,
    ),
    keys: Defaulted(
      StringEnum(['provided', 'first-boot'], {
        description: '`provided`: Keystone generates the keys and installs them at deploy; `first-boot`: the host generates its own.',
      }),
      'provided',
    ),
  },
  { additionalProperties: false },
)

const Tpm = Type.Object(
  {
    enable: Defaulted(Type.Boolean({ description: 'Unlock the credstore with the TPM 2.0.' }), true),
    pcrs: Defaulted(
      Type.Array(Type.Integer({ minimum: 0, maximum: 23 }), {
        minItems: 1,
        description: 'PCRs the TPM key is bound to (systemd-cryptenroll --tpm2-pcrs).',
      }),
      [1, 7],
    ),
  },
  { additionalProperties: false },
)

const RemoteUnlock = Type.Object(
  {
    enable: Defaulted(Type.Boolean({ description: 'Run SSH in the initrd so an admin can unlock the disk remotely.' }), false),
    port: Defaulted(Type.Integer({ minimum: 1, maximum: 65535, description: 'Port of the initrd SSH server.' }), 2222),
    networkModules: Defaulted(
      Type.Array(Type.String({ pattern: '^[A-Za-z0-9_-]+$' }), {
        description: 'Kernel modules of the network card, loaded in the initrd.',
        examples: [['e1000e', 'igb']],
      }),
      [],
    ),
    hostKey: Defaulted(
      Nullable(SshPublicKey, { description: 'Public key of the initrd SSH server, pinned at deploy.' }),
      null,
    ),
  },
  { additionalProperties: false },
)

const Mesh = Type.Object(
  {
    enable: Defaulted(Type.Boolean({ description: 'Join the Tailscale mesh.' }), false),
    loginServer: Defaulted(
      Nullable(Type.String({ pattern: '^https://[^\\s/]+', errorMessage: 'an https:// URL' }), {
        description: 'Coordination server (Headscale) URL. Required when the mesh is enabled.',
      }),
      null,
    ),
    tags: Defaulted(
      Type.Array(Type.String({ pattern: '^tag:[a-z0-9-]+$', errorMessage: 'a tag such as tag:server' }), {
        description: 'ACL tags this host advertises.',
      }),
      [],
    ),
    server: Defaulted(
      Type.Boolean({ description: 'Run the fleet\'s Headscale server on this host (at most one host).' }),
      false,
    ),
  },
  { additionalProperties: false },
)

const SyncPath = Type.Object(
  {
    path: Type.String({ pattern: '^/', description: 'Absolute directory to sync.' }),
    mode: Defaulted(StringEnum(['backup', 'two-way']), 'backup'),
  },
  { additionalProperties: false },
)

const retentionRule = (rule: string) =>
  Defaulted(
    Nullable(Type.Integer({ minimum: 1, maximum: 100_000 }), { description: `Snapshots kept by the ${rule} rule.` }),
    null,
  )

const Sync = Type.Object(
  {
    enable: Defaulted(Type.Boolean({ description: 'Run the Keystone sync agent.' }), false),
    store: Defaulted(
      Nullable(Type.String({ pattern: '^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?|file:///.*)$' }), {
        description: '`s3://bucket/prefix` or `file:///path`.',
      }),
      null,
    ),
    endpoint: Defaulted(
      Nullable(Type.String({ pattern: '^https?://' }), { description: 'S3 endpoint URL (not for AWS).' }),
      null,
    ),
    region: Defaulted(Type.String({ description: 'S3 region.' }), 'us-east-1'),
    caFile: Defaulted(
      Nullable(
        Type.String({ pattern: '^/', errorMessage: 'an absolute path on the host, e.g. /etc/ssl/lan-ca.pem' }),
        {
          description:
            "Path on the host of the CA certificate (PEM) that signed an https endpoint's certificate; trusted besides the system's.",
        },
      ),
      null,
    ),
    pathStyle: Defaulted(Type.Boolean({ description: 'Path-style S3 URLs (SeaweedFS, MinIO, Garage).' }), true),
    paths: Defaulted(Type.Array(SyncPath), []),
    interval: Defaulted(
      Type.String({
        pattern: '^[1-9][0-9]*[smhd]$',
        description: 'Time between two passes (and heartbeats): 90s, 15m, 1h, 1d.',
        errorMessage: 'a duration such as 15m, 1h or 1d',
      }),
      '1h',
    ),
    watch: Defaulted(
      Type.Boolean({ description: 'Also start a pass a few seconds after files change (inotify).' }),
      false,
    ),
    retention: Defaulted(
      Type.Object(
        Object.fromEntries(
          (['last', 'hourly', 'daily', 'weekly', 'monthly'] as const).map((rule) => [
            rule,
            retentionRule(rule),
          ]),
        ) as Record<'last' | 'hourly' | 'daily' | 'weekly' | 'monthly', ReturnType<typeof retentionRule>>,
        { additionalProperties: false, description: 'Which snapshots a daily prune keeps; none set: no pruning.' },
      ),
      {},
    ),
    metrics: Defaulted(
      Type.Boolean({ description: 'Prometheus metrics and /healthz on 127.0.0.1:9464.' }),
      false,
    ),
    agentKey: Defaulted(
      Nullable(Type.String({ pattern: '^ed25519:[A-Za-z0-9+/]{43}=$' }), {
        description: 'Public Ed25519 key of the host\'s agent, pinned at deploy; verifies heartbeats.',
      }),
      null,
    ),
  },
  { additionalProperties: false, description: 'The sync agent: what it keeps, where, and how often.' },
)

export const HostSchema = Type.Object(
  {
    name: Type.String({
      pattern: HOST_NAME_PATTERN,
      description: 'Host name; must equal the file name (hosts/<name>.yaml).',
      errorMessage: 'a lowercase host name (letters, digits and -, at most 63)',
    }),
    system: StringEnum(['x86_64-linux', 'aarch64-linux'], { description: 'CPU architecture and OS.' }),
    role: StringEnum(['server', 'workstation'], { description: 'What the host is for.' }),
    hostId: Type.String({
      pattern: '^[0-9a-f]{8}$',
      description: 'networking.hostId: 8 hex digits, unique in the fleet (ZFS uses it).',
      errorMessage: '8 lowercase hex digits',
      'x-hint': 'generate one with `head -c4 /dev/urandom | od -A none -t x4 | tr -d " "`',
    }),
    stateVersion: Defaulted(
      Type.String({ pattern: '^[0-9]{2}\\.(05|11)$', description: 'system.stateVersion at first install; never change it.' }),
      '25.11',
    ),
    ssh: Ssh,
    admins: Type.Array(Admin, { minItems: 1, description: 'People who administer this host.' }),
    storage: Storage,
    secureBoot: Defaulted(SecureBoot, {}),
    tpm: Defaulted(Tpm, {}),
    remoteUnlock: Defaulted(RemoteUnlock, {}),
    mesh: Defaulted(Mesh, {}),
    sync: Defaulted(Sync, {}),
  },
  { additionalProperties: false, title: 'Keystone host', description: 'One machine of a Keystone fleet.' },
)

export type HostInput = Static<typeof HostSchema>
export type Host = Resolved<HostInput>
