import { constants, accessSync, existsSync, readFileSync } from 'node:fs'
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises'
import { execa } from 'execa'
import { UserError } from '../errors.js'
import { planMachine, machineFiles, type MachineSpec, type Command } from './plan-machine.js'

// Starts and stops the rehearsal machine of plan-machine.ts. Both processes are daemons that
// write their PID files; stopping reads them back and signals exactly those processes (after
// checking that each PID still belongs to this machine), so nothing is left running, and no
// other process is signalled if a PID was reused.

// KVM when the processor can run it; /dev/kvm alone proves nothing (it exists on machines whose
// CPU lacks VT-x/AMD-V, where guests crash), so the CPU flags decide too.
export function detectAccel(): 'kvm' | 'tcg' {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK)
    return /^flags\s*:.*\b(vmx|svm)\b/m.test(readFileSync('/proc/cpuinfo', 'utf8')) ? 'kvm' : 'tcg'
  } catch {
    return 'tcg'
  }
}

// Virtual CPUs for the guest. With KVM, up to four. Under TCG each vCPU is a host thread that
// emulates instructions, and a guest spinning on a lock held by a sibling vCPU the host has not
// scheduled burns the time the holder needs: measured on a two-core host, one installer boot took
// 49 s with two vCPUs and 66 s with one, but two boots side by side (as the tests run) took 109 s
// with two vCPUs each and 69 s with one. So TCG gets one vCPU per two host cores, at least one.
export function guestCpus(accel: 'kvm' | 'tcg', hostCpus: number): number {
  return accel === 'kvm'
    ? Math.max(1, Math.min(4, hostCpus))
    : Math.max(1, Math.min(4, Math.floor(hostCpus / 2)))
}

async function run(command: Command, what: string): Promise<void> {
  const result = await execa(command.file, command.args, { reject: false, stdin: 'ignore' })
  if (result.failed) {
    const reason =
      'code' in result && result.code === 'ENOENT'
        ? `${command.file} is not installed`
        : (result.stderr || result.stdout).trim().split('\n').at(-1) || `exit ${result.exitCode}`
    throw new UserError(`${what} failed: ${reason}`, {
      hint: 'the rehearsal machine needs qemu-system-x86, qemu-utils, ovmf and swtpm (Debian packages)',
    })
  }
}

export async function startMachine(spec: MachineSpec, authorizedKeys: string): Promise<void> {
  const plan = planMachine(spec)
  const { files } = plan
  if (isRunning(spec.dir))
    throw new UserError(`a rehearsal machine is already running in ${spec.dir}`, {
      hint: 'stop it first: `keystone rehearse down`',
    })
  await mkdir(spec.dir, { recursive: true, mode: 0o700 })
  await mkdir(files.tpmState, { recursive: true, mode: 0o700 })
  if (!existsSync(files.vars)) await copyFile(spec.firmware.varsTemplate, files.vars)
  await writeFile(files.authorizedKeys, authorizedKeys, { mode: 0o600 })
  for (const step of plan.create)
    if (!existsSync(step.path)) await run(step.command, `creating ${step.path}`)
  await rm(files.consoleSocket, { force: true })
  await run(plan.swtpm, 'starting swtpm')
  try {
    await run(plan.qemu, 'starting QEMU')
  } catch (error) {
    await stopMachine(spec.dir)
    throw error
  }
}

// The PID in a file, if that process is alive and was started for this machine directory.
function ownPid(pidFile: string, dir: string): number | undefined {
  if (!existsSync(pidFile)) return undefined
  const pid = Number(readFileSync(pidFile, 'utf8').trim())
  if (!Number.isInteger(pid) || pid <= 1) return undefined
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    return cmdline.includes(dir) ? pid : undefined
  } catch {
    return undefined
  }
}

export function isRunning(dir: string): boolean {
  return ownPid(machineFiles(dir).qemuPid, dir) !== undefined
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function stopPid(pid: number | undefined): Promise<void> {
  if (pid === undefined) return
  process.kill(pid, 'SIGTERM')
  for (let waited = 0; waited < 10_000 && alive(pid); waited += 100)
    await new Promise((resolve) => setTimeout(resolve, 100))
  if (alive(pid)) process.kill(pid, 'SIGKILL')
}

// QEMU first (it holds the TPM's socket), then swtpm; safe to call when nothing runs.
export async function stopMachine(dir: string): Promise<void> {
  const files = machineFiles(dir)
  await stopPid(ownPid(files.qemuPid, dir))
  await stopPid(ownPid(files.swtpmPid, dir))
  await rm(files.qemuPid, { force: true })
  await rm(files.swtpmPid, { force: true })
}
