import { parsePublicKeyLine } from './host-key.js'

// A known_hosts file that holds exactly the pinned key, for the OpenSSH clients Keystone starts
// (`nix copy` through NIX_SSHOPTS). sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT": a host on another port
// than 22 is written `[host]:port`; the key's comment is dropped.
export function knownHostsLine(address: string, port: number, keyLine: string): string {
  const host = port === 22 ? address : `[${address}]:${port}`
  return `${host} ${parsePublicKeyLine(keyLine).line}`
}

// ssh_config(5): check strictly against this file only, never the user's or the system's, and
// never add a key to it.
export function pinnedSshOptions(knownHostsFile: string): string[] {
  return [
    'StrictHostKeyChecking=yes',
    `UserKnownHostsFile=${knownHostsFile}`,
    'GlobalKnownHostsFile=/dev/null',
  ]
}
