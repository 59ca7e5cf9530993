import type { SecretKind } from './secret-kinds.js'

// Secrets `keystone deploy` and `enroll` keep for a host's own machinery, in its scope. They are
// never rendered into /var/lib/keystone/secrets: the disk keys live in the installer's RAM and
// the credstore, the host keys and Secure Boot keys in their own places, and the recovery key
// never on the host at all.
export const MACHINE_SECRETS = {
  'credstore-passphrase': 'passphrase',
  'zfs-key': 'other',
  'recovery-key': 'recovery-key',
  'ssh-host-key': 'ssh-key',
  'initrd-ssh-host-key': 'ssh-key',
  'secure-boot-keys': 'other',
  'age-key': 'age-key',
  'agent-signing-key': 'other',
} as const satisfies Record<string, SecretKind>

export type MachineSecret = keyof typeof MACHINE_SECRETS

export const isMachineSecret = (name: string): name is MachineSecret => name in MACHINE_SECRETS
