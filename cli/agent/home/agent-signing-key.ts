import type { KeyObject } from 'node:crypto'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { systemdCredentialFile } from '../../config.js'
import { generateSigningKey, publicKeyString, readSigningKey } from '../../records/signing-key.js'
import type { AgentHome } from './agent-home.js'

// The key this device's agent signs its heartbeats and audit events with, from: the file it is
// told, the systemd credential `agent-signing-key` (the NixOS module; deploy made the key and
// pinned its public half in the host file), or signing.key in the agent directory, made on
// first use (its public key is then printed, to be pinned by hand).
export function agentSigningKey(
  home: AgentHome,
  explicit: string | undefined,
  log: (line: string) => void,
): KeyObject {
  const credential = systemdCredentialFile('agent-signing-key')
  const file =
    explicit ??
    (credential !== undefined && existsSync(credential)
      ? credential
      : path.join(home.dir, 'signing.key'))
  if (explicit === undefined && file === path.join(home.dir, 'signing.key') && !existsSync(file)) {
    home.writePrivate(file, generateSigningKey())
    log(
      `made a signing key for this agent's heartbeats; pin it in the host file as sync.agentKey: ${publicKeyString(readSigningKey(file))}`,
    )
  }
  return readSigningKey(file)
}
