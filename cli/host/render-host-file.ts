import { stringify } from 'yaml'

// The text of a new host file: every setting written out with a comment saying what it does,
// so that the file teaches its own format. Values are quoted by the YAML library, never by hand.

export interface NewHostValues {
  name: string
  system: 'x86_64-linux' | 'aarch64-linux'
  role: 'server' | 'workstation'
  hostId: string
  address: string
  port: number
  user: string
  admin: string
  sshKeys: string[]
  disks: string[]
  swapSize: string
  secureBoot: boolean
  tpm: boolean
}

// lineWidth 0: never fold a long value (an SSH key) over several lines.
const scalar = (value: string | number | boolean) => stringify(value, { defaultStringType: 'PLAIN', lineWidth: 0 }).trimEnd()
// A hostId like 8425e349 must be quoted or YAML reads it as a number.
const quoted = (value: string) => stringify(value, { defaultStringType: 'QUOTE_DOUBLE', lineWidth: 0 }).trimEnd()

export function renderHostFile(v: NewHostValues): string {
  const list = (items: string[], indent: string) => items.map((item) => `${indent}- ${scalar(item)}`).join('\n')
  return `# yaml-language-server: $schema=../schema/host.schema.json
# Created by \`keystone host new\`. After editing, run \`keystone generate ${v.name}\`.
name: ${scalar(v.name)}
# x86_64-linux or aarch64-linux
system: ${v.system}
# server or workstation
role: ${v.role}
# networking.hostId: 8 hex digits, unique in the fleet; ZFS pools remember it.
hostId: ${quoted(v.hostId)}

# How the admin's laptop reaches the machine: first its installer, then the installed system.
ssh:
  address: ${scalar(v.address)}
  port: ${v.port}
  user: ${scalar(v.user)}
  # hostKey is pinned here by \`keystone deploy\`; later connections must present it.

admins:
  - name: ${scalar(v.admin)}
    sshKeys:
${list(v.sshKeys, '      ')}

# Everything on these disks is erased at deploy. Only /dev/disk/by-id/ paths are accepted:
# /dev/sdX and /dev/nvmeXnY names change between boots.
storage:
  # single, or mirror for two or more disks
  layout: ${v.disks.length > 1 ? 'mirror' : 'single'}
  disks:
${list(v.disks, '    ')}
  espSize: 1G
  # Swap is encrypted with a new random key at every boot; 0 for none.
  swapSize: ${scalar(v.swapSize)}
  # The LUKS volume that holds the ZFS key; the TPM or the recovery key opens it at boot.
  credstoreSize: 100M
  pool:
    name: rpool
    compression: zstd
    arcMax: 4G
  # Extra encrypted datasets, e.g. { name: data, mountpoint: /srv/data }
  datasets: []

# Lanzaboote signs every boot entry; \`keystone enroll\` enrolls the keys after the first boot.
secureBoot:
  enable: ${v.secureBoot}
  microsoftKeys: true

# The TPM releases the disk key only while PCR 1 (firmware settings) and PCR 7 (Secure Boot
# state) match what they were at enrollment.
tpm:
  enable: ${v.tpm}
  pcrs: [1, 7]

# SSH in the initrd, to type the recovery key from afar when the TPM refuses.
remoteUnlock:
  enable: false

# Tailscale mesh with your own Headscale server (mesh.loginServer).
mesh:
  enable: false

# The Keystone sync agent: encrypted, versioned sync of directories to S3 or a folder.
sync:
  enable: false
`
}
