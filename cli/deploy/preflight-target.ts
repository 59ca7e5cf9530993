import { existsSync } from 'node:fs'
import path from 'node:path'
import { sshAgentSocket } from '../config.js'
import { UserError } from '../errors.js'
import { diskPaths } from '../host/disks.js'
import type { Host } from '../host/host-schema.js'
import { loadFleet, selectHosts } from '../host/load-fleet.js'
import { checkGenerated } from '../nix/check-generated.js'
import { planGenerate } from '../nix/plan-generate.js'
import type { Output } from '../ui/output.js'
import type { IdentityOptions } from '../vault/identity.js'
import { recipientsPath } from '../vault/recipients.js'
import { secretsForHost } from '../vault/render-host-secrets.js'
import { refText } from '../vault/store.js'
import { checkPreflight, needsKexec } from './preflight.js'
import { describeProbe, parseProbe, type Probe } from './probe.js'
import { PROBE_SCRIPT } from './probe-script.js'
import type { RemoteShell } from './remote-shell.js'
import { shellQuote } from './render-plan.js'
import { openSsh, type SshAuth, type SshTarget } from './ssh.js'

// The read-only half of a deploy, shared by `keystone plan` and `deploy`: the host file and its
// generated Nix, the SSH connection on the verified host key, the probe, and the refusals.

export interface TargetOptions extends IdentityOptions {
  fleet?: string
  cwd?: string
  host: string
  acceptHostKey?: string
  sshKey?: string
  // Reads the target through this root prefix: recorded hardware trees in tests.
  probeRoot?: string
  output?: Output
}

export interface DeployTarget {
  host: Host
  // The host file, relative to the fleet (`hosts/web1.yaml`).
  file: string
  ssh: SshTarget
  auth: SshAuth
  probe: Probe
  machine: string[]
  // Facts of the disks that will be wiped, as pinned in the host file after the install.
  disks: { path: string; sizeBytes: number; serial: string }[]
  secrets: string[]
}

export async function runProbe(shell: RemoteShell, root = ''): Promise<Probe> {
  const result = await shell.run(`sh -s -- ${shellQuote(root === '' ? '' : root)}`, {
    stdin: PROBE_SCRIPT,
    timeoutMs: 60_000,
  })
  if (result.code !== 0)
    throw new UserError(
      `the probe failed on ${shell.description}: ${result.stderr.trim().split('\n').at(-1) ?? ''}`,
    )
  return parseProbe(result.stdout, shell.description)
}

export async function preflight(fleetRoot: string, options: TargetOptions): Promise<DeployTarget> {
  const [loaded] = selectHosts(await loadFleet(fleetRoot), [options.host])
  const { host, file } = loaded!
  const stale = (await checkGenerated(fleetRoot, planGenerate(fleetRoot, [loaded!]))).filter(
    (problem) => problem.path.startsWith(`hosts/${host.name}/`),
  )
  if (stale.length > 0)
    throw new UserError(`the generated Nix of ${host.name} is out of date: ${stale[0]!.message}`, {
      hint: `run \`keystone generate ${host.name}\`, review and commit it, then deploy`,
    })

  const ssh: SshTarget = {
    name: host.name,
    address: host.ssh.address,
    port: host.ssh.port,
    user: host.ssh.user,
  }
  const agent = sshAgentSocket()
  const auth: SshAuth = {
    ...(options.sshKey !== undefined && { identityFile: path.resolve(options.sshKey) }),
    ...(agent !== undefined && { agentSocket: agent }),
  }
  const session = await openSsh(ssh, auth, {
    pinned: host.ssh.hostKey,
    ...(options.acceptHostKey !== undefined && { accept: options.acceptHostKey }),
    hostFile: file,
  })
  let probe: Probe
  try {
    probe = await runProbe(session, options.probeRoot)
  } finally {
    await session.close()
  }

  const refusals = checkPreflight(host, probe, { kexec: needsKexec(probe) })
  if (refusals.length > 0) {
    const write = options.output?.err ?? ((line: string) => process.stderr.write(line + '\n'))
    for (const refusal of refusals) write(`  ✗ ${refusal}`)
    throw new UserError(
      `preflight refused to deploy ${host.name}: ${refusals.length} problem${refusals.length === 1 ? '' : 's'} (above)`,
      {
        hint: 'nothing was changed on the machine; fix the host file or the machine and run again',
      },
    )
  }

  const disks = diskPaths(host.storage).map((diskPath) => {
    const found = probe.disks.find((disk) => disk.id === path.basename(diskPath))!
    return { path: diskPath, sizeBytes: found.sizeBytes, serial: found.serial }
  })
  return {
    host,
    file,
    ssh,
    auth,
    probe,
    machine: describeProbe(probe),
    disks,
    secrets: existsSync(recipientsPath(fleetRoot))
      ? secretsForHost(fleetRoot, host.name).map(refText)
      : [],
  }
}
