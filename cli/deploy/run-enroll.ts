import { existsSync } from 'node:fs'
import path from 'node:path'
import { loadConfig, sshAgentSocket } from '../config.js'
import { UserError } from '../errors.js'
import type { Host } from '../host/host-schema.js'
import { loadFleet, selectHosts } from '../host/load-fleet.js'
import { processOutput, type Output } from '../ui/output.js'
import { recipientOf } from '../vault/age.js'
import { unlockIdentity, type IdentityOptions } from '../vault/identity.js'
import { loadRecipients } from '../vault/recipients.js'
import { readSecret, secretFile, writeSecret } from '../vault/store.js'
import { asRoot } from './as-root.js'
import { enrollCredstore } from './enroll-credstore.js'
import { writeEnrollmentRecord } from '../records/enrollment-record.js'
import { withInterrupt } from '../interrupt.js'
import { previewEnroll, readTpmState, showEnrollPreview } from './preview-enroll.js'
import type { RemoteShell } from './remote-shell.js'
import { parseBootctlStatus, planSecureBootSteps } from './secure-boot-state.js'
import { openSsh, waitForSsh, type SshAuth, type SshSession, type SshTarget } from './ssh.js'

// `keystone enroll <host>` after the first boot: Secure Boot keys into the firmware (or
// Lanzaboote's automatic enrollment confirmed), then the credstore bound to the TPM with a
// recovery key kept in the vault, and the enrollment recorded in git. A second run changes
// nothing.

export interface EnrollOptions extends IdentityOptions {
  fleet?: string
  cwd?: string
  host: string
  sshKey?: string
  // Where the credstore and the TPM are; the defaults are the host's own (tests point them at a
  // LUKS2 file and swtpm).
  credstoreDevice?: string
  tpm2Device?: string
  rebootTimeoutMs?: number
  // Read the host and print the plan (--json: as data); change nothing.
  dryRun?: boolean
  json?: boolean
  output?: Output
}

export async function runEnroll(options: EnrollOptions): Promise<void> {
  const out = options.output ?? processOutput
  const fleetRoot = loadConfig(options).fleetRoot
  const [loaded] = selectHosts(await loadFleet(fleetRoot), [options.host])
  const host = loaded!.host
  if (host.ssh.hostKey === null)
    throw new UserError(`${host.name} has no pinned host key`, { hint: `deploy it first: \`keystone deploy ${host.name}\`` })
  const target: SshTarget = { name: host.name, address: host.ssh.address, port: host.ssh.port, user: host.ssh.user }
  const agent = sshAgentSocket()
  const auth: SshAuth = {
    ...(options.sshKey !== undefined && { identityFile: path.resolve(options.sshKey) }),
    ...(agent !== undefined && { agentSocket: agent }),
  }
  const policy = { pinned: host.ssh.hostKey, hostFile: loaded!.file }

  await withInterrupt(async () => {
    let session = await openSsh(target, auth, policy)
    try {
      if (options.dryRun === true) {
        const preview = await previewEnroll(host, asRoot(session, host.ssh.user), {
          fleetRoot,
          credstore: options.credstoreDevice ?? `/dev/zvol/${host.storage.pool.name}/credstore`,
          tpm2Device: options.tpm2Device ?? 'auto',
        })
        if (options.json === true) out.out(JSON.stringify(preview, null, 2))
        else showEnrollPreview(preview, out)
        return
      }
      const secureBoot = await enrollSecureBoot(host, asRoot(session, host.ssh.user), out)
      let secureBootLine = secureBoot.line
      if (secureBoot.reboot) {
        await session.run('systemctl reboot').catch(() => undefined)
        await session.close()
        out.out(`rebooting ${host.name} so the firmware enrolls the keys …`)
        await new Promise((resolve) => setTimeout(resolve, 5_000))
        session = await waitForSsh(target, auth, policy, { timeoutMs: options.rebootTimeoutMs ?? 600_000 })
        const after = parseBootctlStatus((await asRoot(session, host.ssh.user).run('bootctl status')).stdout)
        if (after.secureBoot !== 'enabled')
          throw new UserError(`after the reboot Secure Boot on ${host.name} is ${after.line}, not enabled`, {
            hint: 'look at the firmware setup: it must accept the enrolled keys',
          })
        out.out(`  ✓ Secure Boot: ${after.line}`)
        secureBootLine = after.line
      }
      if (!host.tpm.enable) {
        out.out(`${host.name}: TPM unlock is off in the host file; nothing more to enroll`)
        return
      }
      await enrollTpm(host, session, { ...options, fleetRoot, out, secureBoot: secureBootLine })
    } finally {
      await session.close()
    }
  })
}

async function enrollSecureBoot(host: Host, shell: RemoteShell, out: Output): Promise<{ reboot: boolean; line: string }> {
  const state = parseBootctlStatus((await shell.run('bootctl status')).stdout)
  const step = planSecureBootSteps(host, state)
  if (step.action === 'refuse') throw new UserError(`${host.name}: ${step.message}`)
  if (step.action === 'done' || step.action === 'skip') {
    out.out(`  ✓ ${step.message}${step.action === 'done' ? ' (already enrolled)' : ''}`)
    return { reboot: false, line: state.line }
  }
  out.out(`  ${step.message}`)
  for (const command of step.commands) {
    const result = await shell.run(command)
    if (result.code !== 0)
      throw new UserError(`\`${command}\` failed on ${host.name}: ${result.stderr.trim().split('\n').at(-1) ?? ''}`)
  }
  return { reboot: true, line: state.line }
}

async function enrollTpm(
  host: Host,
  session: SshSession,
  options: EnrollOptions & { fleetRoot: string; out: Output; secureBoot: string },
): Promise<void> {
  const { fleetRoot, out } = options
  const tpm2Device = options.tpm2Device ?? 'auto'
  const shell = asRoot(session, host.ssh.user)
  const passphraseRef = { scope: host.name, name: 'credstore-passphrase' }
  const recoveryRef = { scope: host.name, name: 'recovery-key' }
  let identity: { secret: string; recipient: string } | undefined
  const unlock = async () => {
    if (identity === undefined) {
      const secret = await unlockIdentity(options)
      identity = { secret, recipient: await recipientOf(secret) }
    }
    return identity
  }
  const { pcrs, recorded, changedPcrs } = await readTpmState(host, shell, { fleetRoot, tpm2Device })
  const result = await enrollCredstore({
    shell,
    device: options.credstoreDevice ?? `/dev/zvol/${host.storage.pool.name}/credstore`,
    tpm2Device,
    pcrs: host.tpm.pcrs,
    unlockPassphrase: async () => Buffer.from(await readSecret(fleetRoot, passphraseRef, await unlock())).toString('utf8'),
    hasSavedRecoveryKey: async () => existsSync(secretFile(fleetRoot, recoveryRef)),
    changedPcrs,
    // Re-binding to other PCRs after the passphrase slot is gone unlocks with the recovery key.
    readRecoveryKey: async () => Buffer.from(await readSecret(fleetRoot, recoveryRef, await unlock())).toString('utf8'),
    saveRecoveryKey: async (key) => {
      await writeSecret(fleetRoot, loadRecipients(fleetRoot), recoveryRef, Buffer.from(key), { kind: 'recovery-key' })
    },
  })
  if (result.alreadyEnrolled && recorded !== undefined) {
    out.out(`  ✓ ${host.name} is already enrolled: TPM on PCRs ${host.tpm.pcrs.join('+')}, recovery key in the vault; nothing changed`)
    return
  }
  for (const step of result.steps) out.out(`  ✓ ${step}`)
  await writeEnrollmentRecord(fleetRoot, host.name, {
    enrolledAt: new Date().toISOString(),
    pcrBank: 'sha256',
    pcrs,
    secureBoot: options.secureBoot,
    tpm2Device,
  })
  out.out(`${host.name} is enrolled; recorded in hosts/${host.name}/enrollment.json (commit it). The recovery key: \`keystone secrets get ${host.name}/recovery-key --reveal\``)
}
