import type { Host } from '../host/host-schema.js'
import { INSTALLER_CREDSTORE_PASSPHRASE, INSTALLER_ZFS_KEY } from '../nix/render-disko.js'
import type { MachineSecret } from '../vault/machine-secrets.js'

// What a deploy places on the host, decided before anything is made (STYLE.md §4): the plan
// shows it, and `make-key-material.ts` makes exactly this.

export interface PlacedFile {
  // Path on the installed system.
  path: string
  mode: string
  what: string
  // The vault secret it is kept in, so that a reinstall keeps the host's identity.
  secret?: MachineSecret
}

export interface DiskKey {
  // Where the generated disko.nix reads it in the installer's RAM.
  remote: string
  secret: MachineSecret
  what: string
}

// modules/remote-unlock: keystone.remoteUnlock.hostKey's default.
export const INITRD_HOST_KEY = '/etc/secrets/initrd/ssh_host_ed25519_key'
// modules/secure-boot: keystone.secureBoot.pkiBundle's default (sbctl's key directory).
export const SECURE_BOOT_PKI = '/var/lib/sbctl'
// The host's own age identity: it may decrypt what the vault encrypts to it.
export const HOST_AGE_KEY = '/var/lib/keystone/age.key'
// modules/sync-agent: the agent's Ed25519 heartbeat key, handed to it as a systemd credential.
export const AGENT_SIGNING_KEY = '/var/lib/keystone/agent-signing-key'

export const DISK_KEYS: DiskKey[] = [
  {
    remote: INSTALLER_CREDSTORE_PASSPHRASE,
    secret: 'credstore-passphrase',
    what: 'initial passphrase of the LUKS credstore (replaced by the TPM at enroll)',
  },
  {
    remote: INSTALLER_ZFS_KEY,
    secret: 'zfs-key',
    what: 'raw ZFS key, 32 bytes, kept in the credstore',
  },
]

// sbctl's layout under the PKI bundle (foxboron/sbctl keys.go): GUID, then keys/<KIND>/<KIND>.{key,pem}.
export const SECURE_BOOT_KINDS = ['PK', 'KEK', 'db'] as const

export function planPlacedFiles(host: Host): PlacedFile[] {
  const files: PlacedFile[] = [
    {
      path: '/etc/ssh/ssh_host_ed25519_key',
      mode: '0600',
      what: 'SSH host key (its public half is pinned in the host file)',
      secret: 'ssh-host-key',
    },
    { path: '/etc/ssh/ssh_host_ed25519_key.pub', mode: '0644', what: 'SSH host public key' },
  ]
  if (host.remoteUnlock.enable)
    files.push({
      path: INITRD_HOST_KEY,
      mode: '0600',
      what: 'SSH host key of the initrd, for remote unlock (pinned in the host file)',
      secret: 'initrd-ssh-host-key',
    })
  if (host.secureBoot.enable && host.secureBoot.keys === 'provided')
    files.push({
      path: `${SECURE_BOOT_PKI}/keys/{PK,KEK,db}/…`,
      mode: '0600',
      what: 'Secure Boot keys (PK, KEK, db) for Lanzaboote and `keystone enroll`',
      secret: 'secure-boot-keys',
    })
  if (host.sync.enable)
    files.push({
      path: AGENT_SIGNING_KEY,
      mode: '0400',
      what: 'the sync agent’s heartbeat signing key (its public half is pinned in the host file)',
      secret: 'agent-signing-key',
    })
  files.push({
    path: HOST_AGE_KEY,
    mode: '0400',
    what: 'the host’s age identity (listed in secrets/recipients.yaml)',
    secret: 'age-key',
  })
  return files
}
