// A known_hosts file that holds exactly the pinned key, for OpenSSH clients Keystone starts
// (`nix copy` through NIX_SSHOPTS). sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT": `[host]:port` when the
// port is not 22.
export function knownHostsLine(address: string, port: number, keyLine: string): string {
  const host = port === 22 ? address : `[${address}]:${port}`
  return `${host} ${keyLine.trim().split(/\s+/).slice(0, 2).join(' ')}`
}

// ssh_config(5): check strictly against this file only, never the user's or the system's.
export function pinnedSshOptions(knownHostsFile: string): string[] {
  return [
    'StrictHostKeyChecking=yes',
    `UserKnownHostsFile=${knownHostsFile}`,
    'GlobalKnownHostsFile=/dev/null',
  ]
}
