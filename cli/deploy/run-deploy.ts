import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { loadConfig, logDir } from '../config.js'
import { pinHostFacts } from '../host/pin-host-facts.js'
import { processOutput } from '../ui/output.js'
import { phaseProgress, seconds } from '../ui/phase-progress.js'
import { recipientOf } from '../vault/age.js'
import { unlockIdentity } from '../vault/identity.js'
import { isTerminal } from '../vault/read-input.js'
import { loadRecipients } from '../vault/recipients.js'
import { confirmRotation, parseRef } from '../vault/store.js'
import { confirmWipe } from './confirm-wipe.js'
import { withInterrupt } from '../interrupt.js'
import { keystoneFlakeDir } from './keystone-flake.js'
import { makeKeyMaterial } from './make-key-material.js'
import { planDeploy } from './plan-deploy.js'
import { preflight, type DeployTarget, type TargetOptions } from './preflight-target.js'
import { withPrivateDir } from './private-dir.js'
import { renderPlan } from './render-plan.js'
import { runPhases } from './run-phases.js'
import { runTool } from './run-tool.js'
import { waitForSsh } from './ssh.js'
import { verifyInstalled } from './verify-installed.js'
import { runGenerate } from '../nix/run-generate.js'

// `keystone deploy <host>` and `keystone plan <host>`: preflight over SSH, the plan, the typed
// confirmation, key material in a private directory, nixos-anywhere phase by phase, the pins in
// the host file, and the check of the rebooted host.

export interface DeployOptions extends TargetOptions {
  dryRun: boolean
  yes: boolean
  bootTimeoutMs?: number
}

// Shown instead of the private directory, which a dry run never makes.
const PLACEHOLDER_DIR = '/dev/shm/keystone-deploy-XXXXXX'

export async function runDeploy(options: DeployOptions): Promise<void> {
  const out = options.output ?? processOutput
  const fleetRoot = loadConfig(options).fleetRoot
  await withInterrupt(async (signal) => {
    const target: DeployTarget = await preflight(fleetRoot, options)
    const { host, probe } = target
    const { secrets } = target
    const planFor = (keyDir: string) =>
      planDeploy({
        host,
        probe,
        fleetRoot,
        keystoneFlake: keystoneFlakeDir(),
        keyDir,
        ...(options.sshKey !== undefined && { identityFile: path.resolve(options.sshKey) }),
        secrets,
      })
    const shown = planFor(PLACEHOLDER_DIR)
    for (const line of renderPlan(shown, target.machine)) out.out(line)
    if (options.dryRun) return

    loadRecipients(fleetRoot) // the vault keeps the disk keys: it must exist before anything else
    out.out('')
    await confirmWipe(
      host.name,
      shown.wipe.map((disk) => disk.path),
      options.yes,
    )
    const secret = await unlockIdentity(options)
    const identity = { secret, recipient: await recipientOf(secret) }

    const logFile = path.join(
      logDir(),
      `deploy-${host.name}-${new Date().toISOString().replaceAll(':', '')}.log`,
    )
    await mkdir(logDir(), { recursive: true, mode: 0o700 })
    out.err(`full log: ${logFile}`)
    const began = Date.now()
    let newHostKey = ''
    await withPrivateDir(async (dir) => {
      out.err(`key material: ${dir} (in memory, removed when deploy ends)`)
      const plan = planFor(dir)
      const material = await makeKeyMaterial({ dir, host, fleetRoot, identity })
      newHostKey = material.sshHostKey
      await runPhases(plan.phases, {
        logFile,
        cwd: fleetRoot,
        signal,
        output: out,
        progress: phaseProgress(out, isTerminal()),
        after: async (phase) => {
          // Flakes see only files git knows: the report must be added before disko evaluates
          // (nixos-anywhere#512).
          if (phase === 'kexec' && existsSync(path.join(fleetRoot, plan.facterReport))) {
            // The report changes the generated default.nix (hardware.facter.reportPath).
            await runGenerate({ hosts: [host.name], all: false, fleet: fleetRoot, output: quiet })
            await addToGit(fleetRoot, [plan.facterReport, `hosts/${host.name}/default.nix`])
          }
          if (phase === 'install') {
            await pinHostFacts(path.join(fleetRoot, target.file), {
              sshHostKey: material.sshHostKey,
              ...(material.initrdHostKey !== undefined && {
                initrdHostKey: material.initrdHostKey,
              }),
              disks: target.disks,
              ...(material.agentKey !== undefined && { agentKey: material.agentKey }),
            })
            await runGenerate({ hosts: [host.name], all: false, fleet: fleetRoot, output: quiet })
          }
        },
      })
    })

    out.err(`waiting for ${host.name} to come back on its new host key …`)
    const session = await waitForSsh(
      target.ssh,
      target.auth,
      { pinned: newHostKey, hostFile: target.file },
      {
        timeoutMs: options.bootTimeoutMs ?? 600_000,
        onWait: (elapsed) =>
          elapsed >= 120_000 && elapsed < 125_000
            ? out.err(
                `  still waiting after ${seconds(elapsed)}: at first boot the credstore asks for its passphrase on the console${host.remoteUnlock.enable ? ` or over SSH on port ${host.remoteUnlock.port}` : ''} (\`keystone secrets get ${host.name}/credstore-passphrase --reveal\`)`,
              )
            : undefined,
      },
    )
    try {
      for (const fact of await verifyInstalled(session, host)) out.out(`  ✓ ${fact}`)
    } finally {
      await session.close()
    }
    for (const ref of secrets) await confirmRotation(fleetRoot, parseRef(ref))
    out.out(
      `${host.name} is installed (${seconds(Date.now() - began)}). Next: \`keystone enroll ${host.name}\``,
    )
  })
}

const quiet = { out: () => {}, err: () => {} }

async function addToGit(fleetRoot: string, files: string[]): Promise<void> {
  const inside = await runTool('git', ['rev-parse', '--is-inside-work-tree'], {
    cwd: fleetRoot,
  }).catch(() => 'false')
  if (inside === 'true') await runTool('git', ['add', '--', ...files], { cwd: fleetRoot })
}
