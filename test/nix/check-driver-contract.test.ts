import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { needs } from '../helpers/needs.js'
import { evalNixText } from '../helpers/nix.js'

// The Python that checks/lib/install.nix gives the VM checks, run against a stand-in for
// nixpkgs' test driver (nixos/lib/test-driver, which needs full nixpkgs): the contract only —
// the driver's `machines` is a property computed anew from `machines_qemu` (and its other
// machine lists) on each read, and the driver stops and cleans up what those lists hold. A
// machine that boot_installed appended to `driver.machines` was never cleaned up. The shape of
// the property is the review's reading of upstream (nixos-anywhere appends to machines_qemu
// too); it is not read here.
const run = promisify(execFile)
const installNix = path.resolve(import.meta.dirname, '../../checks/lib/install.nix')
const skip = needs('nix-instantiate') || needs('python3')

const DRIVER = `
class Driver:
    def __init__(self):
        self.machines_qemu = []
        self.machines_nspawn = []

    @property
    def machines(self):
        return self.machines_qemu + self.machines_nspawn


class Machine:
    def __init__(self, start_command, name):
        self.start_command = start_command
        self.name = name


driver = Driver()
create_machine = Machine
exec(open(HELPERS).read())
machine = boot_installed("web1", {"KS01": "/tmp/KS01.qcow2"}, tpm=True)
assert machine in driver.machines, "boot_installed's machine is not one the driver cleans up"
assert "-device tpm-tis,tpmdev=tpm0" in machine.start_command
print("ok", [m.name for m in driver.machines])
`

t.test(
  "boot_installed registers its machine where the test driver cleans up (contract, against a stand-in for nixpkgs' test driver)",
  { skip },
  async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'keystone-driver-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    // install.nix's arguments: what the helpers interpolate, as plain paths.
    await mkdir(path.join(dir, 'nixpkgs/nixos/lib'), { recursive: true })
    await writeFile(
      path.join(dir, 'nixpkgs/nixos/lib/qemu-common.nix'),
      '{ ... }: { qemuBinary = qemu: "${qemu}/bin/qemu-kvm"; }\n',
    )
    const vars = path.join(dir, 'OVMF_VARS.fd')
    await writeFile(vars, '')
    const helpers = (await evalNixText(
      `(import ${installNix} {
      lib = { };
      nixpkgs = ${JSON.stringify(path.join(dir, 'nixpkgs'))};
      keystoneModules = { };
      pkgs = {
        qemu_test = "/qemu"; swtpm = "/swtpm";
        OVMF = { firmware = "/OVMF_CODE.fd"; variables = ${JSON.stringify(vars)}; };
        closureInfo = { rootPaths }: "/closure";
      };
    }).testScriptHelpers { system.build = { toplevel = "/toplevel"; formatMount = "/fm"; mountScript = "/mount"; }; }`,
    )) as string
    const helpersFile = path.join(dir, 'helpers.py')
    await writeFile(helpersFile, helpers)
    const { stdout } = await run('python3', [
      '-c',
      `HELPERS = ${JSON.stringify(helpersFile)}\n${DRIVER}`,
    ])
    t.equal(stdout.trim(), "ok ['web1']")
  },
)
