import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'

const exec = promisify(execFile)

// Does the credstore's systemd-tpm2 token open it with the TPM as it is now? Asked of systemd's
// own token plugin, as the initrd asks it: `cryptsetup open --test-passphrase --token-only
// --token-type systemd-tpm2` (no device-mapper needed). In systemd 252 the plugin finds its TPM
// only by enumerating /sys/class/tpmrm (tpm2_find_device_auto() in libsystemd-shared, called
// from src/cryptsetup/cryptsetup-tokens/luks2-tpm2.c before SYSTEMD_TPM2_DEVICE is looked at),
// and fails with "TPM2 device not found" without one. This shim replaces that lookup with
// $SYSTEMD_TPM2_DEVICE, a TCTI such as `swtpm:host=127.0.0.1,port=P`; everything after it
// (unseal under the PCR policy, open the keyslot) is systemd's.
const SHIM = `#include <errno.h>
#include <stdlib.h>
#include <string.h>

int tpm2_find_device_auto(int log_level, char **ret) {
        (void) log_level;
        const char *device = getenv("SYSTEMD_TPM2_DEVICE");
        if (!device || !*device)
                return -ENODEV;
        *ret = strdup(device);
        return *ret ? 0 : -ENOMEM;
}
`

// Builds the shim (gcc) into dir, once.
export async function buildTpmTokenShim(dir: string): Promise<string> {
  const library = path.join(dir, 'tpm2-device-shim.so')
  if (existsSync(library)) return library
  const source = path.join(dir, 'tpm2-device-shim.c')
  await writeFile(source, SHIM)
  await exec('gcc', ['-shared', '-fPIC', '-O2', '-Wall', '-Werror', '-o', library, source])
  return library
}

// Over TCP there is no resource manager (a host's /dev/tpmrm0 flushes what a process leaves when
// it exits): the transient objects and sessions that the test's and systemd's TPM operations
// left behind are flushed one handle at a time — `tpm2_flushcontext -t -l -s` gives up on the
// first handle that is already gone, as a session left by a failed unseal can be.
export async function freeTpmSessions(tcti: string): Promise<void> {
  for (const kind of ['transient', 'loaded-session', 'saved-session']) {
    const { stdout } = await exec('tpm2_getcap', ['-T', tcti, `handles-${kind}`])
    for (const handle of stdout.match(/0x[0-9a-fA-F]+/g) ?? [])
      await exec('tpm2_flushcontext', ['-T', tcti, handle]).catch(() => undefined)
  }
}

export interface TokenUnlock {
  opened: boolean
  // cryptsetup's and the plugin's own words, for a failing assertion.
  output: string
}

// The TPM's three session slots are freed first (freeTpmSessions).
export async function openWithTpmToken(
  luksFile: string,
  tcti: string,
  shimDir: string,
): Promise<TokenUnlock> {
  const shim = await buildTpmTokenShim(shimDir)
  await freeTpmSessions(tcti)
  const args = ['open', '--test-passphrase', '--token-only', '--token-type', 'systemd-tpm2']
  return new Promise((resolve) =>
    execFile(
      'cryptsetup',
      [...args, luksFile],
      { env: { ...process.env, LD_PRELOAD: shim, SYSTEMD_TPM2_DEVICE: tcti } },
      (error, stdout, stderr) => resolve({ opened: error === null, output: `${stdout}${stderr}` }),
    ).stdin!.end(),
  )
}

// The same, with the shim built in a directory of its own that is removed afterwards.
export async function unlocksWithTpm(luksFile: string, tcti: string): Promise<boolean> {
  const dir = await mkdtemp(path.join(tmpdir(), 'keystone-tpm-unlock-'))
  try {
    return (await openWithTpmToken(luksFile, tcti, dir)).opened
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
