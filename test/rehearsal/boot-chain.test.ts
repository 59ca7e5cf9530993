import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { runtimeDir } from '../../cli/config.js'
import { makePrivateDir, removePrivateDir } from '../../cli/vault/private-file.js'
import {
  bootFactsOf,
  crypttabOptions,
  evalBootUnits,
  initrdOverlay,
} from '../../cli/rehearsal/initrd-overlay.js'
import { installSystem, planInstall } from '../../cli/rehearsal/install-system.js'
import { needs } from '../helpers/needs.js'
import {
  applyLayout,
  bootRehearsal,
  CREDSTORE_PROMPT,
  needsRehearsal,
  rehearsalFleet,
  rehearsalVault,
  type Rehearsal,
} from '../helpers/rehearsal.js'
import type { runKeystone } from '../helpers/vault-cli.js'

// Items 3 to 6 of the rehearsal, on one machine, in order: Keystone's credstore units booted by
// real systemd in a real initrd; `keystone enroll` over SSH binding the credstore to the
// machine's TPM; the unattended reboot; and a PCR 7 change, the recovery key and the re-enroll.
// Item 3: Keystone's credstore units booted by real systemd in a real initrd.
// Shared with a NixOS host: the unit definitions (modules/disk/credstore-boot-units.nix, the file
// modules/disk hands to boot.initrd.systemd), the crypttab options of modules/tpm, the generated
// layout and the /sysroot file systems. Not shared: the initrd is Debian's dracut one with
// systemd 252 (NixOS's has its own systemd), the units are rendered into files by
// cli/rehearsal/render-units.ts rather than by nixpkgs, and the system on the pool is Debian.
// An emulated machine boots in about a minute: more than tap's 300 s per file for the whole test.
t.setTimeout(1_800_000)
const skip = needsRehearsal() || needs('nix-instantiate') || needs('age-keygen', ['--version'])
const exec = promisify(execFile)

const UNITS = [
  'keystone-import-pool.service',
  'systemd-cryptsetup@credstore.service',
  'etc-credstore.mount',
  'keystone-load-key.service',
  'sysroot.mount',
]

// What the later steps share: the machine (stopped when the file ends), its fleet and vault.
const file = t
let machine: Rehearsal
let fleet: string
// The credstore's crypttab options, as the initrd has them.
let credstoreOptions: string[]
let vault: {
  run: (args: string[], stdin?: string) => ReturnType<typeof runKeystone>
  get: (secret: string) => Promise<string>
}

t.test(
  'the credstore units under real systemd: pool imported, credstore opened, key loaded, root mounted, credstore closed before switch-root',
  { skip, timeout: 1_500_000 },
  async (t) => {
    machine = await bootRehearsal(file, { disks: 1, diskSize: '8G' })
    // Secure Boot's part of enroll (sbctl in the firmware) is not rehearsed here: the TPM only.
    fleet = await rehearsalFleet(machine, [machine.disks[0]!.path], { secureBoot: false })
    const { disko, passphrase } = await applyLayout(t, machine, fleet)
    vault = await rehearsalVault(file, fleet, machine.work)
    t.equal(
      (
        await vault.run(
          ['secrets', 'set', 'rehearsal/credstore-passphrase', '--kind', 'passphrase'],
          passphrase,
        )
      ).code,
      0,
      'the credstore passphrase is in the vault, as deploy leaves it',
    )

    const facts = bootFactsOf(disko, true)
    const units = await evalBootUnits(facts)
    credstoreOptions = await crypttabOptions(facts)
    const overlay = initrdOverlay(units, facts, credstoreOptions)
    const session = await machine.ssh()
    try {
      await installSystem(session, planInstall(facts, overlay), facts.pool)
    } finally {
      await session.close()
    }
    await machine.powerOff()

    // The firmware boots the disk; the credstore asks for its passphrase on the console.
    const { console } = await machine.boot('disks', passphrase)
    t.match(
      console,
      /Please enter passphrase for disk .*credstore/,
      'the first boot asked on the console',
    )

    t.equal(
      (await machine.sh('findmnt -n -o SOURCE,FSTYPE /')).trim(),
      'rpool/crypt/system zfs',
      '/ is the encrypted dataset',
    )
    t.equal((await machine.sh('zfs get -H -o value keystatus rpool/crypt')).trim(), 'available')
    t.equal(
      (
        await machine.sh('cryptsetup status credstore >/dev/null 2>&1 && echo open || echo closed')
      ).trim(),
      'closed',
      'the credstore was closed before switch-root',
    )
    t.equal(
      (await machine.sh('findmnt /etc/credstore >/dev/null && echo mounted || echo none')).trim(),
      'none',
    )

    // The order, from the initrd's journal.
    const journal = await machine.sh(
      `journalctl -b -o short-monotonic --no-pager ${UNITS.map((u) => `-u ${u}`).join(' ')}`,
    )
    const at = (pattern: RegExp) => journal.split('\n').findIndex((line) => pattern.test(line))
    const order = [
      at(/Finished keystone-import-pool\.service/),
      at(/Finished systemd-cryptsetup@credstore\.service/),
      at(/Mounted etc-credstore\.mount/),
      at(/Finished keystone-load-key\.service/),
      at(/Mounted sysroot\.mount/),
      at(/Unmounted etc-credstore\.mount/),
      at(/Stopped systemd-cryptsetup@credstore\.service/),
    ]
    t.ok(
      order.every((index, i) => index >= 0 && (i === 0 || index > order[i - 1]!)),
      `in order in the journal: ${order.join(', ')}\n${journal}`,
    )
  },
)

const credstore = '/dev/zvol/rpool/credstore'
const tokens = async () =>
  JSON.parse(await machine.sh(`cryptsetup luksDump --dump-json-metadata ${credstore}`)) as {
    tokens: Record<string, { type: string; 'tpm2-pcrs'?: number[] }>
    keyslots: Record<string, unknown>
  }
const record = async () =>
  JSON.parse(await readFile(path.join(fleet, 'hosts/rehearsal/enrollment.json'), 'utf8')) as {
    pcrs: Record<string, string>
    secureBoot: string
  }
const pcrsNow = async () =>
  Object.fromEntries(
    [
      ...(await machine.sh('tpm2_pcrread sha256:1,7')).matchAll(/(\d+)\s*:\s*0x([0-9A-F]{64})/g),
    ].map((m) => [m[1]!, m[2]!.toLowerCase()]),
  )
const enroll = () => vault.run(['enroll', 'rehearsal', '--ssh-key', machine.keyFile])
const PROMPT = CREDSTORE_PROMPT

// Item 4. Shared with a NixOS host: `keystone enroll` itself, over SSH to the machine, running
// systemd-cryptenroll and tpm2_pcrread there against its TPM (swtpm behind the firmware, as
// /dev/tpmrm0). Not shared: systemd 252 and tpm2-tools from Debian rather than nixpkgs.
t.test(
  'keystone enroll over SSH: the credstore bound to the machine’s TPM on PCRs 1+7, the recovery key in the vault, the record in the fleet',
  { skip, timeout: 600_000 },
  async (t) => {
    const result = await enroll()
    t.equal(result.code, 0, result.stderr)
    const header = await tokens()
    const types = Object.values(header.tokens)
      .map((token) => token.type)
      .sort()
    t.same(types, ['systemd-recovery', 'systemd-tpm2'])
    t.same(
      Object.values(header.tokens).find((token) => token.type === 'systemd-tpm2')?.['tpm2-pcrs'],
      [1, 7],
    )
    t.equal(Object.keys(header.keyslots).length, 2, 'the passphrase slot is gone')
    const recovery = await vault.get('rehearsal/recovery-key')
    t.match(recovery, /^[a-z]{8}(-[a-z]{8}){7}$/)
    await machine.sh(`cryptsetup open --test-passphrase --key-file - ${credstore}`, recovery)
    t.pass('the recovery key from the vault opens the credstore')
    const enrolled = await record()
    t.same(enrolled.pcrs, await pcrsNow(), 'the record holds the PCR values the TPM has')
    t.equal(enrolled.secureBoot, 'disabled (setup)', 'as bootctl reports the firmware')
  },
)

// Item 5: nothing typed. The machine's firmware measures the same boot again into PCRs 1 and 7,
// and the initrd's systemd-cryptsetup unseals the credstore's key with the TPM.
t.test(
  'the machine reboots and the TPM unlocks the credstore, with nothing typed',
  { skip, timeout: 600_000 },
  async (t) => {
    await machine.powerOff()
    const { console } = await machine.boot('disks')
    t.notMatch(console, PROMPT, 'no passphrase was asked for')
    t.equal((await machine.sh('zfs get -H -o value keystatus rpool/crypt')).trim(), 'available')
    t.equal((await machine.sh('findmnt -n -o SOURCE /')).trim(), 'rpool/crypt/system')
    t.same(await pcrsNow(), (await record()).pcrs, 'PCRs 1 and 7 as enrolled')
  },
)

// Item 6: a new db in the firmware (written in setup mode, as a Secure Boot key enrollment does)
// moves PCR 7 at the next boot, where the firmware measures the db variable.
t.test(
  'PCR 7 moved by a new db: the TPM refuses, the recovery key opens the credstore, and enroll binds it again',
  { skip, timeout: 900_000 },
  async (t) => {
    const before = await record()
    // Private keys: in memory, never in /tmp.
    const dir = await makePrivateDir(runtimeDir(), 'db-')
    t.teardown(() => removePrivateDir(dir))
    await exec('openssl', [
      'req',
      '-new',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '3650',
      '-subj',
      '/CN=Keystone rehearsal db/',
      '-keyout',
      path.join(dir, 'db.key'),
      '-out',
      path.join(dir, 'db.crt'),
    ])
    // efitools: an EFI signature list of the certificate, written without a signature, which
    // the firmware accepts only in setup mode (efi-updatevar -e).
    await machine.sh('cat > /root/db.crt', await readFile(path.join(dir, 'db.crt'), 'utf8'))
    await machine.sh(
      'cert-to-efi-sig-list /root/db.crt /root/db.esl && efi-updatevar -e -f /root/db.esl db',
    )
    await machine.powerOff()

    const recovery = await vault.get('rehearsal/recovery-key')
    const { console } = await machine.boot('disks', recovery)
    t.match(
      console,
      /Please enter recovery key for disk [^\n]*credstore/,
      'the TPM refused: the console asked for the recovery key, and it was typed',
    )
    t.equal((await machine.sh('zfs get -H -o value keystatus rpool/crypt')).trim(), 'available')
    const moved = await pcrsNow()
    t.not(moved['7'], before.pcrs['7'], 'PCR 7 moved')
    t.equal(moved['1'], before.pcrs['1'], 'PCR 1 did not')

    // Asked the way the initrd's systemd-cryptsetup@credstore.service asks (the same binary and
    // options, the TPM only, nothing typed), with the PCR values this boot measured, which are
    // the ones the next boot measures again: before the re-enroll the TPM refuses…
    t.notOk(await tpmOpensCredstore(), 'the stale TPM slot does not open the credstore now')

    const again = await enroll()
    t.equal(again.code, 0, again.stderr)
    t.match(again.stdout.toString(), "re-bound the credstore's TPM slot to the values of PCR 7 now")
    t.same((await record()).pcrs, moved, 'the record holds the values of now')
    const types = Object.values((await tokens()).tokens)
      .map((token) => token.type)
      .sort()
    t.same(types, ['systemd-recovery', 'systemd-tpm2'], 'one TPM slot, the stale one wiped')
    t.equal(await vault.get('rehearsal/recovery-key'), recovery, 'the recovery key is kept')
    // …and after it the TPM opens it. Another boot would ask the TPM the same question again
    // (test 3 proves the boot's way) and cost two emulated minutes.
    t.ok(await tpmOpensCredstore(), 'the re-bound TPM slot opens the credstore, nothing typed')
  },
)

const tpmOpensCredstore = async () => {
  const answer = await machine.sh(
    `if timeout 120 /usr/lib/systemd/systemd-cryptsetup attach rebound ${credstore} - ${[...credstoreOptions, 'headless=true'].join(',')} </dev/null; then /usr/lib/systemd/systemd-cryptsetup detach rebound; echo opened; else echo refused; fi`,
  )
  return answer.trim().split('\n').at(-1) === 'opened'
}
