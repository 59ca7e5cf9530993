import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { formatProblem, HostFileError } from '../../cli/errors.js'
import { loadFleet } from '../../cli/host/load-fleet.js'

const ALICE = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM97szXfPQIyB7HG36CpXtNVR5xg4mXjD23yWbv6K/c2 alice@laptop'
const SERVER = 'https://hs.example.org'
const ID_HINT =
  'ZFS refuses to import a pool last used by another hostId; generate a new one with `head -c4 /dev/urandom | od -A none -t x4 | tr -d " "`'

// A minimal valid host; `hostId` is on line 4 and the optional mesh block starts on line 14.
function hostYaml(name: string, hostId: string, mesh?: { loginServer: string; server?: boolean }): string {
  const lines = [
    `name: ${name}`,
    'system: x86_64-linux',
    'role: server',
    `hostId: "${hostId}"`,
    'ssh:',
    `  address: ${name}.example.org`,
    'admins:',
    '  - name: alice',
    '    sshKeys:',
    `      - ${ALICE}`,
    'storage:',
    '  disks:',
    `    - /dev/disk/by-id/nvme-${name}`,
  ]
  if (mesh !== undefined) {
    lines.push('mesh:', '  enable: true', `  loginServer: ${mesh.loginServer}`)
    if (mesh.server === true) lines.push('  server: true')
  }
  return lines.join('\n') + '\n'
}

// A fleet root in a private temporary directory, removed when the test ends.
async function fleet(t: { teardown(fn: () => Promise<void>): void }, files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'keystone-fleet-checks-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await mkdir(path.join(dir, 'hosts'))
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, 'hosts', name), text)
  return dir
}

async function loadError(dir: string): Promise<unknown> {
  return loadFleet(dir).then(
    () => undefined,
    (e: unknown) => e,
  )
}

const problemsOf = (error: unknown) => (error instanceof HostFileError ? error.problems.map(formatProblem) : [])

t.test('a fleet of distinct hosts loads', async (t) => {
  const dir = await fleet(t, {
    'a.yaml': hostYaml('a', '11111111', { loginServer: SERVER, server: true }),
    'b.yaml': hostYaml('b', '22222222', { loginServer: SERVER }),
    'c.yaml': hostYaml('c', '33333333'),
  })
  const hosts = await loadFleet(dir)
  t.same(
    hosts.map((h) => [h.file, h.host.name]),
    [
      ['hosts/a.yaml', 'a'],
      ['hosts/b.yaml', 'b'],
      ['hosts/c.yaml', 'c'],
    ],
  )
})

t.test('a hostId used twice is reported at the second file, naming the first', async (t) => {
  const dir = await fleet(t, {
    'a.yaml': hostYaml('a', '8425e349'),
    'b.yaml': hostYaml('b', '8425e349'),
  })
  const error = await loadError(dir)
  t.type(error, HostFileError)
  t.same(problemsOf(error), [`hosts/b.yaml:4:9: hostId: \`8425e349\` is already the hostId of hosts/a.yaml — hint: ${ID_HINT}`])
})

t.test('two files for one host name (.yaml and .yml) are reported', async (t) => {
  const dir = await fleet(t, {
    'a.yaml': hostYaml('a', '11111111'),
    'a.yml': hostYaml('a', '22222222'),
  })
  const error = await loadError(dir)
  t.type(error, HostFileError)
  t.same(problemsOf(error), [
    'hosts/a.yml:1:7: name: `a` is already the name of hosts/a.yaml — hint: host names must be unique in a fleet; keep one file per host',
  ])
})

t.test('a second Headscale server is reported at its mesh.server line', async (t) => {
  const dir = await fleet(t, {
    'a.yaml': hostYaml('a', '11111111', { loginServer: SERVER, server: true }),
    'b.yaml': hostYaml('b', '22222222', { loginServer: SERVER, server: true }),
  })
  const error = await loadError(dir)
  t.type(error, HostFileError)
  t.same(problemsOf(error), [
    'hosts/b.yaml:17:11: mesh.server: the fleet already runs its Headscale server on a — hint: keep mesh.server: true on one host only',
  ])
})

t.test('a client whose loginServer is not the fleet server is reported at its loginServer', async (t) => {
  const dir = await fleet(t, {
    'a.yaml': hostYaml('a', '11111111', { loginServer: SERVER, server: true }),
    'b.yaml': hostYaml('b', '22222222', { loginServer: 'https://headscale.example.net' }),
    'c.yaml': hostYaml('c', '33333333', { loginServer: SERVER }),
  })
  const error = await loadError(dir)
  t.type(error, HostFileError)
  t.same(problemsOf(error), [
    'hosts/b.yaml:16:16: mesh.loginServer: expected `https://hs.example.org` (the fleet\'s server on a), got `https://headscale.example.net` — hint: every host of the fleet joins the same Headscale server',
  ])
})

t.test('problems of single files and of the fleet are reported together', async (t) => {
  const dir = await fleet(t, {
    'a.yaml': hostYaml('a', '8425e349'),
    'b.yaml': hostYaml('b', '8425e349'),
    'c.yaml': hostYaml('c', '8425e349').replace('role: server', 'role: sever'),
  })
  const error = await loadError(dir)
  t.type(error, HostFileError)
  t.same(problemsOf(error), [
    'hosts/c.yaml:3:7: role: expected one of server, workstation, got `sever` — hint: did you mean `server`?',
    `hosts/b.yaml:4:9: hostId: \`8425e349\` is already the hostId of hosts/a.yaml — hint: ${ID_HINT}`,
  ])
})
