import { createWriteStream, type WriteStream } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { execa } from 'execa'
import { loadConfig, logDir, sshAgentSocket } from '../config.js'
import { UserError, UsageError } from '../errors.js'
import type { Host } from '../host/host-schema.js'
import { loadFleet, selectHosts } from '../host/load-fleet.js'
import { mapLimit } from '../fs/map-limit.js'
import { processOutput, type Output } from '../ui/output.js'
import { seconds } from '../ui/phase-progress.js'
import { renderTable } from '../ui/table.js'
import { explainFailure } from './explain-failure.js'
import { withInterrupt } from '../interrupt.js'
import { knownHostsLine, pinnedSshOptions } from './known-hosts.js'
import { planUpdate, previewUpdate, SYSTEM_PLACEHOLDER, type UpdatePreview } from './plan-update.js'
import { withPrivateDir } from './private-dir.js'
import { openSsh, type SshAuth } from './ssh.js'

// `keystone update [<host>…|--all] [--parallel N]`: every selected host is built, copied, given
// its new boot entry and switched, up to N at a time. A host that fails is reported and the
// others go on; the command fails if any host did. One log file per host.

export interface UpdateOptions {
  fleet?: string
  cwd?: string
  hosts: string[]
  all: boolean
  parallel?: number
  sshKey?: string
  // Print each host's steps (--json: as data) and change nothing: no build, no SSH.
  dryRun?: boolean
  json?: boolean
  output?: Output
}

interface HostResult {
  host: string
  ok: boolean
  step: string
  detail: string
  ms: number
}

export async function runUpdate(options: UpdateOptions): Promise<void> {
  const out = options.output ?? processOutput
  if (options.all === options.hosts.length > 0)
    throw new UsageError(
      options.all
        ? 'name hosts or pass --all, not both'
        : 'name the hosts to update, or pass --all',
    )
  const parallel = options.parallel ?? 10
  if (!Number.isInteger(parallel) || parallel < 1)
    throw new UsageError(`--parallel: expected a whole number ≥ 1, got ${parallel}`)
  const fleetRoot = loadConfig(options).fleetRoot
  const hosts = selectHosts(await loadFleet(fleetRoot), options.all ? [] : options.hosts).map(
    (loaded) => loaded.host,
  )
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')
  if (options.dryRun === true)
    return showUpdatePlan(
      hosts.map((host) => previewUpdate(host, fleetRoot, stamp)),
      options.json === true,
      out,
    )
  await mkdir(logDir(), { recursive: true, mode: 0o700 })
  const agent = sshAgentSocket()
  const auth: SshAuth = {
    ...(options.sshKey !== undefined && { identityFile: path.resolve(options.sshKey) }),
    ...(agent !== undefined && { agentSocket: agent }),
  }

  const results = await withInterrupt((signal) =>
    withPrivateDir((dir) =>
      mapLimit(hosts, parallel, async (host) => {
        const result = await updateHost(host, {
          fleetRoot,
          stamp,
          dir,
          auth,
          signal,
          identityFile: auth.identityFile,
        })
        out.err(
          result.ok
            ? `${host.name} ✓ ${seconds(result.ms)}`
            : `${host.name} ✗ ${result.step}: ${result.detail}`,
        )
        return result
      }),
    ),
  )

  out.out('')
  out.out(
    renderTable(
      ['HOST', 'RESULT', 'TIME', 'DETAIL'],
      results.map((r) => [
        r.host,
        r.ok ? 'updated' : `failed (${r.step})`,
        seconds(r.ms),
        r.detail,
      ]),
    ),
  )
  const failed = results.filter((r) => !r.ok)
  if (failed.length > 0)
    throw new UserError(
      `${failed.length} of ${results.length} host${results.length === 1 ? '' : 's'} failed to update: ${failed.map((r) => r.host).join(', ')}`,
      {
        hint: `the others were updated; each host's log is in ${logDir()}/update-<host>-${stamp}.log`,
      },
    )
}

function showUpdatePlan(plan: UpdatePreview[], json: boolean, out: Output): void {
  if (json) out.out(JSON.stringify({ dryRun: true, hosts: plan }, null, 2))
  else
    for (const host of plan) {
      out.out(`${host.host}: ${host.refused === undefined ? 'would run' : 'would not be updated'}`)
      if (host.refused !== undefined) out.out(`  ✗ ${host.refused}`)
      else
        for (const [step, command] of [
          ['build', host.build.join(' ')],
          ['copy', host.copy.join(' ')],
          ['boot entry', host.bootEntry],
          ['switch', host.switch],
        ] as const)
          out.out(`  ${step.padEnd(10)} ${command}`)
    }
  const refused = plan.filter((host) => host.refused !== undefined)
  if (refused.length > 0)
    throw new UserError(
      `${refused.length} of ${plan.length} host${plan.length === 1 ? '' : 's'} would fail to update: ${refused.map((h) => h.host).join(', ')}`,
      { hint: 'nothing was run (--dry-run)' },
    )
  if (!json)
    out.out(`nothing was run (--dry-run); ${SYSTEM_PLACEHOLDER} is the store path the build prints`)
}

interface HostContext {
  fleetRoot: string
  stamp: string
  dir: string
  auth: SshAuth
  signal: AbortSignal
  identityFile: string | undefined
}

async function updateHost(host: Host, context: HostContext): Promise<HostResult> {
  const began = Date.now()
  const log = createWriteStream(path.join(logDir(), `update-${host.name}-${context.stamp}.log`), {
    mode: 0o600,
  })
  const steps = planUpdate(host, context.fleetRoot, context.stamp)
  let step = 'build'
  try {
    const storePath = (
      await runLogged('nix', steps.build, { log, cwd: context.fleetRoot, signal: context.signal })
    )
      .trim()
      .split('\n')
      .at(-1)!
    step = 'connect'
    if (host.ssh.hostKey === null)
      throw new UserError('ssh.hostKey is not pinned', {
        hint: `deploy the host first, or pin its key in hosts/${host.name}.yaml`,
      })
    const target = {
      name: host.name,
      address: host.ssh.address,
      port: host.ssh.port,
      user: host.ssh.user,
    }
    const session = await openSsh(target, context.auth, {
      pinned: host.ssh.hostKey,
      hostFile: `hosts/${host.name}.yaml`,
    })
    try {
      step = 'copy'
      const knownHosts = path.join(context.dir, `known_hosts-${host.name}`)
      await writeFile(
        knownHosts,
        knownHostsLine(host.ssh.address, host.ssh.port, host.ssh.hostKey) + '\n',
        { mode: 0o600 },
      )
      // nix copy's ssh-ng store reads its ssh options from NIX_SSHOPTS (nix(1) environment).
      const sshOptions = [
        '-p',
        String(host.ssh.port),
        ...(context.identityFile === undefined ? [] : ['-i', context.identityFile]),
        ...pinnedSshOptions(knownHosts).flatMap((option) => ['-o', option]),
      ]
      const copy = steps.copy(storePath)
      await runLogged('nix', copy.args, {
        log,
        cwd: context.fleetRoot,
        signal: context.signal,
        env: { NIX_SSHOPTS: sshOptions.join(' ') },
      })
      step = 'boot entry'
      await runRemote(session, steps.register(storePath), log)
      step = 'switch'
      try {
        await runRemote(session, steps.switch(storePath), log)
      } catch (error) {
        if (error instanceof UserError && /lost the SSH connection/.test(error.message))
          throw new UserError(
            `the SSH connection dropped; the switch goes on on the host as ${steps.unit}.service`,
            {
              hint: `check it with \`systemctl status ${steps.unit}\`; the new system is already the boot entry`,
            },
          )
        throw error
      }
      return { host: host.name, ok: true, step: 'done', detail: storePath, ms: Date.now() - began }
    } finally {
      await session.close()
    }
  } catch (error) {
    if (context.signal.aborted) throw error
    const detail = error instanceof UserError ? error.message : String(error)
    log.write(`\n${step} failed: ${detail}\n`)
    return { host: host.name, ok: false, step, detail, ms: Date.now() - began }
  } finally {
    await new Promise<void>((resolve) => log.end(resolve))
  }
}

async function runLogged(
  file: string,
  args: string[],
  options: { log: WriteStream; cwd: string; signal: AbortSignal; env?: Record<string, string> },
): Promise<string> {
  options.log.write(`\n$ ${file} ${args.join(' ')}\n`)
  const result = await execa(file, args, {
    cwd: options.cwd,
    reject: false,
    stdin: 'ignore',
    cancelSignal: options.signal,
    ...(options.env !== undefined && { env: options.env }),
  })
  options.log.write(
    result.stdout + (result.stdout.endsWith('\n') ? '' : '\n') + result.stderr + '\n',
  )
  if (result.failed) {
    if ('code' in result && result.code === 'ENOENT')
      throw new UserError(`\`${file}\` is not installed on this machine`)
    throw new UserError(`${explainFailure(result.stderr.split('\n'))}`)
  }
  return result.stdout
}

async function runRemote(
  session: {
    run: (
      command: string,
      options?: { timeoutMs?: number },
    ) => Promise<{ code: number; stdout: string; stderr: string }>
  },
  command: string,
  log: WriteStream,
): Promise<void> {
  log.write(`\n$ ${command}\n`)
  const result = await session.run(command, { timeoutMs: 3_600_000 })
  log.write(result.stdout + result.stderr + `(exit ${result.code})\n`)
  if (result.code !== 0) throw new UserError(explainFailure(result.stderr.split('\n')))
}
