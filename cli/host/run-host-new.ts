import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { homedir, userInfo } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline/promises'
import type { Readable, Writable } from 'node:stream'
import { loadConfig } from '../config.js'
import { HostFileError, UsageError, UserError } from '../errors.js'
import { writeFileAtomic } from '../fs/write-file-atomic.js'
import { processOutput, type Output } from '../ui/output.js'
import { HOST_NAME_PATTERN, suggestHostName } from './host-schema.js'
import { HOSTS_DIR } from './load-fleet.js'
import { loadHostSource } from './load-host.js'
import { renderHostFile, type NewHostValues } from './render-host-file.js'

export interface HostNewOptions {
  name: string
  system?: 'x86_64-linux' | 'aarch64-linux'
  role?: 'server' | 'workstation'
  address?: string
  port?: number
  user?: string
  admin?: string
  sshKey?: string[]
  sshKeyFile?: string[]
  disk?: string[]
  swap?: string
  hostId?: string
  secureBoot?: boolean
  tpm?: boolean
  fleet?: string
  cwd?: string
  output?: Output
  // Prompts for what is missing when this is a terminal.
  input?: Readable
  prompts?: Writable
  interactive?: boolean
}

type Ask = (question: string, fallback?: string) => Promise<string>

function makeAsk(options: HostNewOptions): { ask: Ask | undefined; close: () => void } {
  const interactive = options.interactive ?? (process.stdin.isTTY === true && process.stdout.isTTY === true)
  if (!interactive) return { ask: undefined, close: () => {} }
  const rl = createInterface({ input: options.input ?? process.stdin, output: options.prompts ?? process.stdout })
  const ask: Ask = async (question, fallback) => {
    const answer = (await rl.question(fallback === undefined ? `${question}: ` : `${question} [${fallback}]: `)).trim()
    return answer === '' ? (fallback ?? '') : answer
  }
  return { ask, close: () => rl.close() }
}

function readKeyFiles(files: readonly string[]): string[] {
  return files.map((file) => {
    try {
      return readFileSync(file, 'utf8').trim()
    } catch {
      throw new UserError(`cannot read SSH public key file ${file}`, { hint: 'pass the .pub file of your key' })
    }
  })
}

function defaultKeyFile(): string | undefined {
  const candidate = path.join(homedir(), '.ssh', 'id_ed25519.pub')
  return existsSync(candidate) ? candidate : undefined
}

async function gatherValues(options: HostNewOptions, ask: Ask | undefined): Promise<NewHostValues> {
  const missing: string[] = []
  const need = async (value: string | undefined, flag: string, question: string, fallback?: string) => {
    if (value !== undefined && value !== '') return value
    if (ask === undefined) {
      missing.push(flag)
      return ''
    }
    return ask(question, fallback)
  }
  const address = await need(options.address, '--address', 'SSH address of the machine (its installer)')
  const me = userInfo().username
  const admin = await need(options.admin, '--admin', 'Your login name on the host', me === 'root' ? undefined : me)
  let sshKeys = [...(options.sshKey ?? []), ...readKeyFiles(options.sshKeyFile ?? [])]
  if (sshKeys.length === 0) {
    const keyFile = await need(undefined, '--ssh-key or --ssh-key-file', 'Your SSH public key file', defaultKeyFile())
    if (keyFile !== '') sshKeys = readKeyFiles([keyFile])
  }
  let disks = options.disk ?? []
  if (disks.length === 0) {
    const disk = await need(undefined, '--disk', 'Disk to erase, as /dev/disk/by-id/… (ls -l /dev/disk/by-id/)')
    if (disk !== '') disks = [disk]
  }
  if (missing.length > 0) {
    throw new UsageError(`missing ${missing.join(', ')}`, 'pass them as flags, or run `keystone host new` in a terminal to be asked')
  }
  return {
    name: options.name,
    system: options.system ?? 'x86_64-linux',
    role: options.role ?? 'server',
    hostId: options.hostId ?? randomBytes(4).toString('hex'),
    address,
    port: options.port ?? 22,
    user: options.user ?? 'root',
    admin,
    sshKeys,
    disks,
    swapSize: options.swap ?? '8G',
    secureBoot: options.secureBoot ?? true,
    tpm: options.tpm ?? true,
  }
}

// Writes hosts/<name>.yaml, a commented host file that passes `keystone check` as written.
export async function runHostNew(options: HostNewOptions): Promise<string> {
  const output = options.output ?? processOutput
  if (!new RegExp(HOST_NAME_PATTERN).test(options.name)) {
    throw new UsageError(`expected a host name of lowercase letters, digits and -, got \`${options.name}\``, `e.g. \`keystone host new ${suggestHostName(options.name)}\``)
  }
  const { fleetRoot } = loadConfig(options)
  const file = `${HOSTS_DIR}/${options.name}.yaml`
  const target = path.join(fleetRoot, file)
  if (existsSync(target)) {
    throw new UserError(`${file} already exists`, { hint: 'edit it, or choose another name' })
  }
  const { ask, close } = makeAsk(options)
  let values: NewHostValues
  try {
    values = await gatherValues(options, ask)
  } finally {
    close()
  }
  const text = renderHostFile(values)
  // Checked before writing: a new host file is never left behind invalid.
  const result = loadHostSource(text, file)
  if (!result.ok) throw new HostFileError(result.problems.map((p) => ({ ...p, file: `${file} (not written)` })))
  await writeFileAtomic(target, text)
  output.out(`wrote ${file}`)
  output.out(`next: review it, then run \`keystone generate ${options.name}\``)
  return file
}
