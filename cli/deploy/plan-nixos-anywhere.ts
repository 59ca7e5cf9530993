// The nixos-anywhere invocations of a deploy, as data (STYLE.md §4): one invocation per phase,
// so that a failing phase stops the deploy before the next one starts, and the hardware report
// can be added to git between kexec and the evaluation that reads it.
// Flags from nix-community/nixos-anywhere src/nixos-anywhere.sh @ 91fc9b7 (the pinned input);
// test/deploy/plan-nixos-anywhere.test.ts checks every argv against its flag table.

export type PhaseName = 'kexec' | 'disko' | 'install' | 'reboot'

export interface NixosAnywherePhase {
  name: PhaseName
  // What the phase does, for the plan a person reads.
  summary: string
  argv: string[]
}

export interface NixosAnywhereInput {
  // The flake and the host's nixosConfigurations attribute: `<flake>#<host>`.
  flake: string
  host: string
  target: { address: string; user: string; port: number }
  // The admin's SSH private key nixos-anywhere connects with; without one, ssh uses the agent.
  // No --ssh-option can pin the host key: nixos-anywhere puts StrictHostKeyChecking=no and
  // UserKnownHostsFile=/dev/null first, and ssh keeps the first value of an option. Keystone's
  // own preflight verifies the pinned key before the first phase instead.
  identityFile?: string
  // Where the hardware report goes, relative to the fleet (hosts/<name>/facter.json).
  facterReport: string
  // Files placed in the installer's RAM before disko: remote path → local file.
  diskKeys: { remote: string; local: string }[]
  // A tree copied onto the installed system (SSH host keys, the host's secrets).
  extraFiles: string
  // The port the kexec'd installer listens on.
  installerPort?: number
}

export function planNixosAnywhere(input: NixosAnywhereInput): NixosAnywherePhase[] {
  const flake = ['--flake', `${input.flake}#${input.host}`]
  const ssh = (user: string, port: number) => [
    '--target-host',
    `${user}@${input.target.address}`,
    '--ssh-port',
    String(port),
    ...(input.identityFile === undefined ? [] : ['-i', input.identityFile]),
  ]
  // After kexec the installer runs as root on its own SSH port.
  const installer = ssh('root', input.installerPort ?? 22)
  return [
    {
      name: 'kexec',
      summary: 'boot the NixOS installer in RAM (kexec) and write the hardware report',
      argv: [
        ...flake,
        ...ssh(input.target.user, input.target.port),
        '--phases',
        'kexec',
        '--generate-hardware-config',
        'nixos-facter',
        input.facterReport,
      ],
    },
    {
      name: 'disko',
      summary: 'partition and format the disks with the host’s disko layout',
      argv: [
        ...flake,
        ...installer,
        '--phases',
        'disko',
        ...input.diskKeys.flatMap((key) => ['--disk-encryption-keys', key.remote, key.local]),
      ],
    },
    {
      name: 'install',
      summary: 'copy the system closure, install the boot loader and place the host’s files',
      argv: [...flake, ...installer, '--phases', 'install', '--extra-files', input.extraFiles],
    },
    {
      name: 'reboot',
      summary: 'unmount, export the pool and reboot into the installed system',
      argv: [...flake, ...installer, '--phases', 'reboot'],
    },
  ]
}
