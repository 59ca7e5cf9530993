import { existsSync } from 'node:fs'
import { UserError } from '../errors.js'
import type { Host } from '../host/host-schema.js'
import { readEnrollmentRecord } from '../records/enrollment-record.js'
import type { Output } from '../ui/output.js'
import { secretFile } from '../vault/store.js'
import { pcrList, readCredstoreStatus } from './credstore-status.js'
import { planCredstoreEnrollment } from './enroll-credstore.js'
import { readPcrs } from './read-pcrs.js'
import type { RemoteShell } from './remote-shell.js'
import { shellQuote } from './render-plan.js'
import { parseBootctlStatus, planSecureBootSteps } from './secure-boot-state.js'

// `keystone enroll <host> --dry-run`: what enroll would do, read from the host with the same
// read-only commands (bootctl status, the PCRs, the credstore's LUKS header) and planned by the
// same functions, with nothing written on the host or in the vault. The same refusals apply.
export interface EnrollPreview {
  dryRun: true
  host: string
  secureBoot: { state: string; action: string; message: string; commands: string[] }
  tpm:
    | { enable: false }
    | {
        enable: true
        pcrs: Record<number, string>
        credstore: string
        alreadyEnrolled: boolean
        // systemd-cryptenroll's commands, without the unlock key it reads from stdin.
        steps: { what: string; command: string; unlockWith: string; savesRecoveryKey: boolean }[]
      }
}

// The PCRs of now (read first: a host without a reachable TPM is refused before anything
// changes) and, from the enrollment record, those that moved since the TPM slot was sealed (a
// firmware update, new Secure Boot keys): such a slot cannot unseal and is sealed again.
export async function readTpmState(
  host: Host,
  shell: RemoteShell,
  options: { fleetRoot: string; tpm2Device: string },
) {
  const pcrs = await readPcrs(shell, host.tpm.pcrs, options.tpm2Device).catch((error: unknown) => {
    throw new UserError(
      `no TPM 2.0 reachable on ${host.name}: ${error instanceof Error ? error.message : String(error)}`,
      {
        hint: 'enable the TPM 2.0 in the firmware, or set `tpm.enable: false` in the host file; nothing was changed',
      },
    )
  })
  const recorded = readEnrollmentRecord(options.fleetRoot, host.name)
  const changedPcrs =
    recorded === undefined
      ? []
      : host.tpm.pcrs.filter((n) => recorded.pcrs[n] !== undefined && recorded.pcrs[n] !== pcrs[n])
  return { pcrs, recorded, changedPcrs }
}

export async function previewEnroll(
  host: Host,
  shell: RemoteShell,
  options: { fleetRoot: string; credstore: string; tpm2Device: string },
): Promise<EnrollPreview> {
  const state = parseBootctlStatus((await shell.run('bootctl status')).stdout)
  const step = planSecureBootSteps(host, state)
  if (step.action === 'refuse') throw new UserError(`${host.name}: ${step.message}`)
  const secureBoot = {
    state: state.line,
    action: step.action,
    message: step.message,
    commands: step.commands,
  }
  if (!host.tpm.enable) return { dryRun: true, host: host.name, secureBoot, tpm: { enable: false } }
  const { pcrs, recorded, changedPcrs } = await readTpmState(host, shell, options)
  const status = await readCredstoreStatus(shell, options.credstore)
  const plan = planCredstoreEnrollment(status, {
    tpm2Device: options.tpm2Device,
    pcrs: host.tpm.pcrs,
    hasSavedRecoveryKey: existsSync(
      secretFile(options.fleetRoot, { scope: host.name, name: 'recovery-key' }),
    ),
    canReadRecoveryKey: true,
    target: shell.description,
    changedPcrs,
  })
  return {
    dryRun: true,
    host: host.name,
    secureBoot,
    tpm: {
      enable: true,
      pcrs,
      credstore: options.credstore,
      alreadyEnrolled: plan.alreadyEnrolled && recorded !== undefined,
      steps: plan.alreadyEnrolled
        ? []
        : plan.steps.map((s) => ({
            what: s.what,
            command: `systemd-cryptenroll ${[options.credstore, ...s.args].map(shellQuote).join(' ')}`,
            unlockWith: s.unlockWith,
            savesRecoveryKey: s.savesRecoveryKey,
          })),
    },
  }
}

export function showEnrollPreview(preview: EnrollPreview, out: Output): void {
  const { secureBoot, tpm } = preview
  out.out(`${preview.host}: enroll would`)
  if (secureBoot.commands.length === 0) out.out(`  Secure Boot: nothing (${secureBoot.message})`)
  else {
    out.out(`  Secure Boot: ${secureBoot.message}`)
    for (const command of secureBoot.commands) out.out(`    ${command}`)
    out.out('    then reboot and check that Secure Boot is enabled')
  }
  if (!tpm.enable) out.out('  TPM: nothing (TPM unlock is off in the host file)')
  else if (tpm.alreadyEnrolled)
    out.out(
      `  TPM: nothing (already enrolled on PCRs ${pcrList(Object.keys(tpm.pcrs).map(Number))})`,
    )
  else {
    for (const s of tpm.steps)
      out.out(
        `  TPM: ${s.what}: ${s.command} (unlocked with the vault's ${s.unlockWith}${s.savesRecoveryKey ? `; the new key goes to ${preview.host}/recovery-key` : ''})`,
      )
    out.out(`  then record hosts/${preview.host}/enrollment.json`)
  }
  out.out('nothing was changed (--dry-run)')
}
