import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'

const exec = promisify(execFile)

// Does the credstore's systemd-tpm2 token open it with the TPM as it is now? What the initrd's
// systemd-cryptsetup does at boot, done with tpm2-tools because the token plugin only talks to
// /dev/tpmrm0: recreate systemd's storage primary key (ECC P-256, the tpm2-tools default
// template), load the sealed object from the token's tpm2-blob (TPM2B_PRIVATE then
// TPM2B_PUBLIC), satisfy its PCR policy in a policy session and unseal; the base64 of the
// unsealed secret is the LUKS passphrase (systemd 252 src/cryptsetup/cryptsetup-tpm2.c).
export async function unlocksWithTpm(luksFile: string, tcti: string): Promise<boolean> {
  const work = await mkdtemp(path.join(tmpdir(), 'keystone-tpm-unlock-'))
  const env = { ...process.env, TPM2TOOLS_TCTI: tcti }
  const run = (file: string, args: string[], input?: string) =>
    new Promise<{ code: number; stdout: Buffer }>((resolve) => {
      const child = execFile(file, args, { env, cwd: work, encoding: 'buffer' }, (error, stdout) =>
        resolve({ code: error === null ? 0 : ((error as { code?: number }).code ?? 1), stdout }),
      )
      child.stdin!.end(input ?? '')
    })
  try {
    const { stdout: json } = await exec('cryptsetup', ['luksDump', '--dump-json-metadata', luksFile])
    const metadata = JSON.parse(json) as { tokens: Record<string, { type: string; 'tpm2-blob'?: string; 'tpm2-pcrs'?: number[] }> }
    const token = Object.values(metadata.tokens).find((candidate) => candidate.type === 'systemd-tpm2')
    if (token?.['tpm2-blob'] === undefined) return false
    const blob = Buffer.from(token['tpm2-blob'], 'base64')
    const privateSize = blob.readUInt16BE(0)
    await writeFile(path.join(work, 'priv'), blob.subarray(0, 2 + privateSize))
    await writeFile(path.join(work, 'pub'), blob.subarray(2 + privateSize))
    const pcrs = `sha256:${(token['tpm2-pcrs'] ?? []).join(',')}`
    const steps: [string, string[]][] = [
      ['tpm2_createprimary', ['-Q', '-C', 'o', '-G', 'ecc', '-g', 'sha256', '-c', 'primary.ctx']],
      ['tpm2_load', ['-Q', '-C', 'primary.ctx', '-u', 'pub', '-r', 'priv', '-c', 'key.ctx']],
      // Over TCP there is no resource manager: free the transient slots before the session.
      ['tpm2_flushcontext', ['-t']],
      ['tpm2_startauthsession', ['--policy-session', '-S', 'session.ctx']],
      ['tpm2_policypcr', ['-Q', '-S', 'session.ctx', '-l', pcrs]],
    ]
    for (const [file, args] of steps) if ((await run(file, args)).code !== 0) return false
    const unsealed = await run('tpm2_unseal', ['-c', 'key.ctx', '-p', 'session:session.ctx'])
    await run('tpm2_flushcontext', ['session.ctx'])
    await run('tpm2_flushcontext', ['-t'])
    if (unsealed.code !== 0) return false
    const opened = await run('cryptsetup', ['open', '--test-passphrase', '--key-file=-', luksFile], unsealed.stdout.toString('base64'))
    return opened.code === 0
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}
