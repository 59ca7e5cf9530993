import { readFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { bootRehearsal, needsRehearsal, rehearsalFleet } from '../helpers/rehearsal.js'
import { keystone } from '../helpers/temp-fleet.js'

// Item 1 of the rehearsal: `keystone plan` and `deploy --dry-run` over SSH against a machine with
// real UEFI firmware (OVMF, Secure Boot in setup mode), a real TPM 2.0 (swtpm on tpm-tis) and
// real virtio disks, read by the same probe a deploy runs. Shared with a NixOS target: the probe,
// the preflight refusals and the plan. Not shared: the guest runs Debian, not a NixOS installer.
// An emulated machine boots in about a minute: more than tap's 300 s per file for the whole test.
t.setTimeout(1_800_000)
const skip = needsRehearsal()

t.test(
  'plan and deploy --dry-run on the rehearsal machine; a wrong disk serial is refused before anything is written',
  { skip, timeout: 900_000 },
  async (t) => {
    const machine = await bootRehearsal(t, { disks: 2, diskSize: '8G' })
    const [first, second] = machine.disks as [(typeof machine.disks)[0], (typeof machine.disks)[0]]
    const fleet = await rehearsalFleet(machine, [first.path])
    const generated = await keystone(['generate', 'rehearsal', '--fleet', fleet])
    t.equal(generated.code, 0, generated.stderr)

    // What the guest itself says, read without Keystone, to compare the plan with.
    const memTotalKib = Number(
      /^MemTotal:\s+(\d+) kB/m.exec(await machine.sh('cat /proc/meminfo'))![1],
    )
    const sizeOf = async (serial: string) =>
      Number((await machine.sh(`blockdev --getsize64 /dev/disk/by-id/virtio-${serial}`)).trim())

    for (const args of [['plan'], ['deploy', '--dry-run']]) {
      const result = await keystone([
        ...args,
        'rehearsal',
        '--fleet',
        fleet,
        '--ssh-key',
        machine.keyFile,
      ])
      t.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`)
      const text = result.stdout
      t.match(text, `Plan: deploy rehearsal to root@127.0.0.1:${machine.config.sshPort}`)
      t.match(text, /architecture: x86_64/)
      t.match(
        text,
        new RegExp(
          `memory: +[0-9.]+ GiB available of ${(memTotalKib / 1024 / 1024).toFixed(1)} GiB`,
        ),
      )
      t.match(text, /firmware: +UEFI/)
      t.match(text, /Secure Boot: +disabled, in setup mode/)
      t.match(text, /TPM: +TPM 2\.0/)
      t.match(text, /system: +debian: nixos-anywhere replaces it through kexec/)
      for (const disk of machine.disks)
        t.match(
          text,
          new RegExp(
            `virtio-${disk.serial} \\(vd[a-z]\\): [0-9.]+ [GM]B \\(${await sizeOf(disk.serial)} bytes\\), unknown model, serial ${disk.serial}`,
          ),
          `the probe lists ${disk.serial} with its size and serial`,
        )
      t.match(
        text,
        new RegExp(
          `Disks that will be WIPED \\(1\\):\\n  ${first.path}\\n .*serial ${first.serial}`,
        ),
      )
      t.notMatch(
        text.split('Disks that will be WIPED')[1]!.split('Phases')[0]!,
        second.serial,
        'only the named disk is wiped',
      )
    }

    // The same machine, a host file pinning another serial for the first disk: refused by preflight.
    // A blank disk reads as zeros at both ends, where a GPT and its backup would be written.
    const zeroEnds = (disk: string) =>
      machine.sh(
        `cmp -n 16777216 /dev/zero ${disk} && dd if=${disk} bs=1M skip=$(( $(blockdev --getsize64 ${disk}) / 1048576 - 16 )) status=none | cmp -n 16777216 /dev/zero - && echo zero`,
      )
    t.equal((await zeroEnds(first.path)).trim(), 'zero', 'the first disk is blank before')
    const wrongSerial = await rehearsalFleet(machine, [
      { path: first.path, sizeBytes: null, serial: 'WRONG-SERIAL-0' },
    ])
    t.equal((await keystone(['generate', 'rehearsal', '--fleet', wrongSerial])).code, 0)
    const before = await readFile(path.join(wrongSerial, 'hosts/rehearsal.yaml'), 'utf8')
    const refused = await keystone([
      'deploy',
      'rehearsal',
      '--yes',
      '--fleet',
      wrongSerial,
      '--ssh-key',
      machine.keyFile,
    ])
    t.equal(refused.code, 1, 'deploy is refused')
    t.match(
      refused.stderr,
      `disk ${first.path}: hosts/rehearsal.yaml pins serial WRONG-SERIAL-0, the machine's has serial ${first.serial}`,
    )
    t.match(refused.stderr, 'preflight refused to deploy rehearsal: 1 problem')
    t.notMatch(refused.stderr, /at .*\.js:\d+/, 'no stack trace')

    // A disk by an id the machine does not have (a serial typed wrong in the path itself).
    const wrongPath = await rehearsalFleet(machine, ['/dev/disk/by-id/virtio-KS00000000X'])
    t.equal((await keystone(['generate', 'rehearsal', '--fleet', wrongPath])).code, 0)
    const missing = await keystone([
      'deploy',
      'rehearsal',
      '--yes',
      '--fleet',
      wrongPath,
      '--ssh-key',
      machine.keyFile,
    ])
    t.equal(missing.code, 1)
    t.match(
      missing.stderr,
      new RegExp(
        `disk /dev/disk/by-id/virtio-KS00000000X: not on the machine, which has .*virtio-${first.serial}`,
      ),
    )

    // Nothing was written: not the disks, not the host file, no key material in the vault.
    t.equal((await zeroEnds(first.path)).trim(), 'zero', 'the first disk is still blank')
    t.equal(
      (await machine.sh(`blkid -p ${first.path} ${second.path} || echo none`)).trim(),
      'none',
      'no signature on either disk',
    )
    t.equal(
      await readFile(path.join(wrongSerial, 'hosts/rehearsal.yaml'), 'utf8'),
      before,
      'the host file is unchanged',
    )
  },
)
