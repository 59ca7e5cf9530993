import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { needs } from '../helpers/needs.js'
import { evalNixText } from '../helpers/nix.js'

// The pure functions in lib/, evaluated by the real nix-instantiate. mkFleet gets a nixosSystem
// that returns its arguments: that is mkFleet's whole contract with nixpkgs (which functions it
// calls with what), and nixpkgs itself cannot be evaluated here.
const lib = path.resolve(import.meta.dirname, '../../lib')
const skip = needs('nix-instantiate')

const evalNix = (text: string) => evalNixText(text)
const nixString = (value: string) => JSON.stringify(value)

t.test('tpmPcrsArg joins PCRs as systemd-cryptenroll takes them', { skip }, async (t) => {
  const pcrs = (list: string) => evalNix(`import ${lib}/tpm-pcrs.nix ${list}`)
  t.equal(await pcrs('[ 1 7 ]'), '1+7')
  t.equal(await pcrs('[ 7 1 7 ]'), '1+7', 'sorted and without duplicates')
  t.equal(await pcrs('[ 0 ]'), '0')
  t.equal(await pcrs('[ 23 4 ]'), '4+23')
  await t.rejects(pcrs('[ ]'), /PCR list is empty/)
  await t.rejects(pcrs('[ 24 ]'), /TPM PCR 24 is not an index 0-23/)
  await t.rejects(pcrs('[ (-1) ]'), /TPM PCR -1 is not an index 0-23/)
  await t.rejects(pcrs('[ "7" ]'), /TPM PCR "7" is not an index 0-23/)
})

t.test('poolMembers names the pool partition of each disk', { skip }, async (t) => {
  t.same(
    await evalNix(
      `import ${lib}/pool-members.nix [ "/dev/disk/by-id/nvme-A" "/dev/disk/by-id/ata-B" ]`,
    ),
    ['/dev/disk/by-id/nvme-A-part2', '/dev/disk/by-id/ata-B-part2'],
  )
  t.same(await evalNix(`import ${lib}/pool-members.nix [ ]`), [])
})

t.test('mkFleet makes one nixosSystem per hosts/<name>/default.nix', { skip }, async (t) => {
  const fleet = await mkdtemp(path.join(tmpdir(), 'keystone-fleet-'))
  t.teardown(() => rm(fleet, { recursive: true, force: true }))
  const hosts = path.join(fleet, 'hosts')
  for (const name of ['web1', 'db2']) {
    await mkdir(path.join(hosts, name), { recursive: true })
    await writeFile(path.join(hosts, name, 'default.nix'), '{ }\n')
  }
  // Not hosts: a folder without default.nix, and the YAML files beside the folders.
  await mkdir(path.join(hosts, 'notes'))
  await writeFile(path.join(hosts, 'web1.yaml'), 'name: web1\n')

  const mkFleet = `import ${lib}/mk-fleet.nix { nixosSystem = args: args; keystoneModules = { default = "modules"; }; }`
  const fleetOf = (args: string) =>
    evalNix(`
      let
        fleet = (${mkFleet}) ${args};
      in
      builtins.mapAttrs (name: system: {
        modules = map toString system.modules;
        specialArgs = system.specialArgs;
      }) fleet`)

  t.same(await fleetOf(`{ hosts = ${hosts}; }`), {
    db2: {
      modules: [path.join(hosts, 'db2')],
      specialArgs: { keystoneModules: { default: 'modules' } },
    },
    web1: {
      modules: [path.join(hosts, 'web1')],
      specialArgs: { keystoneModules: { default: 'modules' } },
    },
  })

  const extended = (await fleetOf(
    `{ hosts = ${hosts}; modules = [ ${nixString('site.nix')} ]; specialArgs = { site = "lab"; }; }`,
  )) as Record<string, { modules: string[]; specialArgs: Record<string, unknown> }>
  t.same(
    extended.web1?.modules,
    [path.join(hosts, 'web1'), 'site.nix'],
    'extra modules come after the host',
  )
  t.same(extended.web1?.specialArgs, { site: 'lab', keystoneModules: { default: 'modules' } })

  await t.rejects(
    fleetOf(`{ hosts = ${path.join(fleet, 'missing')}; }`),
    /mkFleet: .*missing does not exist; pass the folder that holds your host files/,
  )
})

t.test("mkFleet finds this repository's example hosts", { skip }, async (t) => {
  const hosts = path.resolve(lib, '../hosts')
  const names = await evalNix(
    `builtins.attrNames (import ${lib}/mk-fleet.nix { nixosSystem = args: args; keystoneModules = { }; } { hosts = ${hosts}; })`,
  )
  t.same(names, ['desk1', 'storage1', 'web1'])
})
