import { existsSync } from 'node:fs'
import path from 'node:path'

// The only module that reads `process.env` (STYLE.md §3): defaults, then environment, then flags.
export interface Config {
  // Root of the fleet repository: the directory holding hosts/.
  fleetRoot: string
  debug: boolean
}

export function findFleetRoot(start: string): string {
  let dir = path.resolve(start)
  for (;;) {
    if (existsSync(path.join(dir, 'hosts'))) return dir
    const parent = path.dirname(dir)
    if (parent === dir) return path.resolve(start)
    dir = parent
  }
}

export function loadConfig(flags: { fleet?: string | undefined; cwd?: string } = {}): Config {
  const cwd = flags.cwd ?? process.cwd()
  const explicit = flags.fleet ?? process.env.KEYSTONE_FLEET
  return {
    fleetRoot:
      explicit !== undefined && explicit !== '' ? path.resolve(cwd, explicit) : findFleetRoot(cwd),
    debug: process.env.KEYSTONE_DEBUG === '1',
  }
}

export function isDebug(): boolean {
  return process.env.KEYSTONE_DEBUG === '1'
}

// Where an admin's own Keystone files live (the vault identity): $XDG_CONFIG_HOME/keystone,
// else ~/.config/keystone.
export function userConfigDir(): string {
  const base = process.env.XDG_CONFIG_HOME
  const home = process.env.HOME ?? '/'
  return path.join(
    base !== undefined && base !== '' ? base : path.join(home, '.config'),
    'keystone',
  )
}

// The editor for `keystone secrets edit`: $VISUAL, then $EDITOR, then vi.
export function editorCommand(): string {
  return process.env.VISUAL || process.env.EDITOR || 'vi'
}

// Per-user runtime directory (tmpfs on systemd machines), a fallback for private in-memory files.
export function runtimeDir(): string | undefined {
  return process.env.XDG_RUNTIME_DIR
}

// The admin's ssh-agent, which deploy, enroll and update use when no --ssh-key is given.
export function sshAgentSocket(): string | undefined {
  const socket = process.env.SSH_AUTH_SOCK
  return socket === undefined || socket === '' ? undefined : socket
}

// Where deploy and update keep their full logs: $XDG_STATE_HOME/keystone/logs, else
// ~/.local/state/keystone/logs — outside the fleet repository, so logs never reach git.
export function logDir(): string {
  const base = process.env.XDG_STATE_HOME
  const home = process.env.HOME ?? '/'
  return path.join(
    base !== undefined && base !== '' ? base : path.join(home, '.local', 'state'),
    'keystone',
    'logs',
  )
}

// What `keystone fleet status` verified last, per host: $XDG_STATE_HOME/keystone/fleet-seen.json,
// else ~/.local/state/keystone/fleet-seen.json (the admin's memory against a rolled-back bucket).
export function fleetSeenFile(): string {
  const base = process.env.XDG_STATE_HOME
  const home = process.env.HOME ?? '/'
  return path.join(base !== undefined && base !== '' ? base : path.join(home, '.local', 'state'), 'keystone', 'fleet-seen.json')
}

// The sync agent's own directory (settings, device key, SQLite state, spool):
// $KEYSTONE_AGENT_DIR, else systemd's $STATE_DIRECTORY (the NixOS module), else
// $XDG_STATE_HOME/keystone/agent, else ~/.local/state/keystone/agent.
export function agentDir(): string {
  const explicit = process.env.KEYSTONE_AGENT_DIR || process.env.STATE_DIRECTORY
  if (explicit !== undefined && explicit !== '') return path.resolve(explicit.split(':')[0]!)
  const base = process.env.XDG_STATE_HOME
  const home = process.env.HOME ?? '/'
  return path.join(base !== undefined && base !== '' ? base : path.join(home, '.local', 'state'), 'keystone', 'agent')
}

// A systemd credential passed with LoadCredential= (the NixOS module), if there is one.
export function systemdCredentialFile(name: string): string | undefined {
  const dir = process.env.CREDENTIALS_DIRECTORY
  return dir === undefined || dir === '' ? undefined : path.join(dir, name)
}

// S3 credentials in the environment, as restic and rclone users set them.
export function awsEnvironmentCredentials(): { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined {
  const accessKeyId = process.env.AWS_ACCESS_KEY_ID
  const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY
  if (!accessKeyId || !secretAccessKey) return undefined
  const sessionToken = process.env.AWS_SESSION_TOKEN
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) }
}

// Built things Keystone keeps between runs (the rehearsal machine's guest image and its machines):
// $XDG_CACHE_HOME/keystone, else ~/.cache/keystone.
export function cacheDir(): string {
  const base = process.env.XDG_CACHE_HOME
  const home = process.env.HOME ?? '/'
  return path.join(base !== undefined && base !== '' ? base : path.join(home, '.cache'), 'keystone')
}
