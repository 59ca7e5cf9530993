import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { secureBootState, tpmState } from '../../cli/agent/heartbeat/host-facts.js'
import { tempDir } from '../helpers/agent.js'

// What a host reports about its boot security, read from files laid out as the kernel lays out
// /sys: efivarfs variables are 4 bytes of attributes, then the value.
const EFI = 'sys/firmware/efi/efivars'
const GUID = '8be4df61-93ca-11d2-aa0d-00e098032b8c'
const efiVar = (value: number) => Buffer.from([0x06, 0, 0, 0, value])

async function root(files: Record<string, Buffer | string>): Promise<string> {
  const dir = await tempDir('sysfs')
  await mkdir(path.join(dir, EFI), { recursive: true })
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true })
    await writeFile(path.join(dir, name), content)
  }
  return dir
}

t.test('Secure Boot: enabled, disabled, setup mode, no UEFI', async (t) => {
  t.equal(
    secureBootState(
      await root({
        [`${EFI}/SecureBoot-${GUID}`]: efiVar(1),
        [`${EFI}/SetupMode-${GUID}`]: efiVar(0),
      }),
    ),
    'enabled',
  )
  t.equal(
    secureBootState(
      await root({
        [`${EFI}/SecureBoot-${GUID}`]: efiVar(0),
        [`${EFI}/SetupMode-${GUID}`]: efiVar(0),
      }),
    ),
    'disabled',
  )
  t.equal(
    secureBootState(
      await root({
        [`${EFI}/SecureBoot-${GUID}`]: efiVar(0),
        [`${EFI}/SetupMode-${GUID}`]: efiVar(1),
      }),
    ),
    'setup-mode',
  )
  t.equal(secureBootState(await root({})), 'unknown', 'UEFI without the variable')
  t.equal(secureBootState(await tempDir('bios')), 'no-uefi')
})

t.test('TPM: present with the PCR values of the SHA-256 bank, or absent', async (t) => {
  const seven = 'AB'.repeat(32)
  const dir = await root({
    'sys/class/tpm/tpm0/pcr-sha256/7': `${seven}\n`,
    'sys/class/tpm/tpm0/pcr-sha256/1': 'garbage\n',
  })
  t.same(tpmState([1, 7], dir), { present: true, pcrs: { '7': seven.toLowerCase() } })
  t.same(tpmState([7], await tempDir('no-tpm')), { present: false, pcrs: {} })
})
