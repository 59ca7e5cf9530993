import { execFileSync } from 'node:child_process'
import { mkdir, readFile, rename, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t, { type Test } from 'tap'
import { HOST_NAME_PATTERN } from '../../cli/host/host-name.js'
import { keystone, tempFleet } from '../helpers/temp-fleet.js'

// Hostile and careless host files, each through the built CLI (`keystone check`, and `generate`
// where the Nix is the target): every one ends in exit 1 with its file:line:col, the reason and
// the fix, and never in an internal error (70) or a stack trace.

const LOCATED = /^hosts\/[^:\n]+\.yaml:\d+:\d+: /m

async function fleetWith(t: Test, edit: (web1: string) => string, name = 'web1') {
  const fleet = await tempFleet(t)
  const file = path.join(fleet, 'hosts', 'web1.yaml')
  const text = edit(await readFile(file, 'utf8'))
  await writeFile(file, text)
  if (name !== 'web1') await rename(file, path.join(fleet, 'hosts', `${name}.yaml`))
  return fleet
}

async function refused(t: Test, fleet: string, expected: RegExp, command = ['check']) {
  const result = await keystone([...command, '--fleet', fleet])
  t.equal(result.code, 1, `exit 1: ${result.stderr.split('\n')[0]}`)
  t.match(result.stderr, LOCATED, 'the refusal names file:line:col')
  t.match(result.stderr, expected)
  t.notMatch(result.stderr, /internal error|\n\s+at /, 'no internal error, no stack trace')
  return result
}

const DISK = '/dev/disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S5GXNX0T123456A'
const withDisk = (disk: string) => (text: string) => text.replace(`- ${DISK}`, `- ${disk}`)
const withSync = (lines: string) => (text: string) =>
  `${text}\nsync:\n  enable: true\n  store: file:///srv/backups\n${lines}`

t.test(
  'a host file that is a symlink, a FIFO or a directory is refused by name, unopened',
  async (t) => {
    const fleet = await tempFleet(t)
    const key = path.join(fleet, 'id_ed25519')
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key])
    const secret = (await readFile(key, 'utf8')).split('\n')[1]!.slice(0, 24)
    await symlink(key, path.join(fleet, 'hosts', 'leak.yaml'))
    execFileSync('mkfifo', [path.join(fleet, 'hosts', 'pipe.yaml')])
    await mkdir(path.join(fleet, 'hosts', 'dir.yaml'))
    const result = await keystone(['check', '--fleet', fleet])
    t.equal(result.code, 1)
    for (const [file, kind] of [
      ['leak', 'a symbolic link'],
      ['pipe', 'a FIFO'],
      ['dir', 'a directory'],
    ])
      t.match(
        result.stderr,
        `hosts/${file}.yaml:1:1: is ${kind}, not a regular file; it was not opened`,
      )
    t.notMatch(result.stderr, 'BEGIN OPENSSH', 'nothing of the link target is shown')
    t.notOk(result.stderr.includes(secret), 'not a byte of the private key')
  },
)

t.test('an error quotes at most one line of the file, cut short', async (t) => {
  // A value that runs over several lines (a folded scalar) where one short word belongs.
  const long = Array.from({ length: 6 }, (_, i) => `  secret-line-${i}-${'x'.repeat(60)}`).join(
    '\n',
  )
  const fleet = await fleetWith(t, (text) => text.replace('role: server', `role:\n${long}`))
  const result = await refused(t, fleet, /role: expected one of server, workstation/)
  t.notMatch(result.stderr, 'secret-line-1', 'the second line of the value is not shown')
  const quoted = /got `([^`]*)`/.exec(result.stderr)?.[1] ?? ''
  t.ok(quoted.length <= 40, `the quote is short (${quoted.length} characters)`)
})

t.test('disk paths that are not one plain by-id name are refused', async (t) => {
  for (const disk of [
    '/dev/disk/by-id/..',
    '/dev/disk/by-id/.',
    '/dev/disk/by-id/../sda',
    '/dev/disk/by-id//nvme-x',
    '/dev/disk/by-id/nvme-x/',
    '"/dev/disk/by-id/nvme-x "',
    '"/dev/disk/by-id/nvme\\tx"',
    '"/dev/disk/by-id/nvme\\u0007x"',
  ])
    await t.test(disk, async (t) => {
      await refused(
        t,
        await fleetWith(t, withDisk(disk)),
        /storage\.disks\[0\]: expected a \/dev\/disk\/by-id\/ path/,
      )
    })
})

t.test('the same disk in two hosts’ files, by path or by serial, is refused', async (t) => {
  const byPath = await tempFleet(t)
  const storage1 = path.join(byPath, 'hosts', 'storage1.yaml')
  const text = await readFile(storage1, 'utf8')
  const theirs = /- (\/dev\/disk\/by-id\/\S+)/.exec(text)![1]!
  await writeFile(storage1, text.replace(`- ${theirs}`, `- ${DISK}`))
  await refused(
    t,
    byPath,
    /the disk with path `\/dev\/disk\/by-id\/nvme-Samsung_SSD_980_PRO_1TB_S5GXNX0T123456A` is already storage\.disks\[0\] of hosts\/\w+\.yaml — hint: a disk belongs to one host/,
  )

  const bySerial = await tempFleet(t)
  const pinned = (disk: string) =>
    `- path: ${disk}\n      sizeBytes: 1000204886016\n      serial: S5GXNX0T123456A`
  const web1 = path.join(bySerial, 'hosts', 'web1.yaml')
  await writeFile(web1, (await readFile(web1, 'utf8')).replace(`- ${DISK}`, pinned(DISK)))
  const other = path.join(bySerial, 'hosts', 'storage1.yaml')
  await writeFile(
    other,
    (await readFile(other, 'utf8')).replace(`- ${theirs}`, pinned('/dev/disk/by-id/nvme-renamed')),
  )
  await refused(
    t,
    bySerial,
    /the disk with serial `S5GXNX0T123456A` is already storage\.disks\[0\] of hosts\/\w+\.yaml/,
  )
})

t.test(
  'sizes that do not fit the disk, or any disk, are refused before they reach the Nix',
  async (t) => {
    const pinnedSmall = (text: string) =>
      text
        .replace(`- ${DISK}`, `- path: ${DISK}\n      sizeBytes: 8589934592\n      serial: null`)
        .replace('swapSize: 8G', 'swapSize: 16G')
    await refused(
      t,
      await fleetWith(t, pinnedSmall),
      /storage\.disks\[0\]\.sizeBytes: the disk holds 8G \(8589934592 bytes\), less than the 18G the layout puts on it/,
    )
    for (const [key, value] of [
      ['swapSize', '99999999T'],
      ['espSize', '9999999999999999999T'],
    ])
      await t.test(`${key}: ${value}`, async (t) => {
        const fleet = await fleetWith(t, (text) =>
          key === 'swapSize'
            ? text.replace('swapSize: 8G', `swapSize: ${value}`)
            : text.replace('  swapSize: 8G', `  swapSize: 8G\n  espSize: ${value}`),
        )
        await refused(
          t,
          fleet,
          new RegExp(`storage\\.${key}: \`${value}\` is larger than any disk`),
          ['generate', 'web1'],
        )
      })
  },
)

t.test(
  'sync paths that would escape, or reach a unit file as something else, are refused',
  async (t) => {
    for (const [lines, expected] of [
      [
        '  paths:\n    - path: /\n      mode: two-way\n',
        /a two-way path of \/ would let every other host write all of this one/,
      ],
      [
        '  paths:\n    - path: /var/lib/../../etc\n',
        /`\/var\/lib\/\.\.\/\.\.\/etc` is not in its plain form .* hint: it means \/etc/,
      ],
      [
        '  paths:\n    - path: "/srv/a\\nExecStartPre=/bin/sh"\n',
        /contains the control character \\u000a/,
      ],
      [
        '  paths:\n    - path: /srv/${HOME}\n',
        /contains `\$`, which a shell or Nix reads as a substitution/,
      ],
      [
        '  paths:\n    - path: /srv/%h\n      mode: two-way\n',
        /contains `%`, which systemd reads as a specifier/,
      ],
      [
        '  paths:\n    - path: "/srv/a b"\n      mode: two-way\n',
        /contains whitespace, which separates entries in a unit file/,
      ],
    ] as const)
      await t.test(lines.split('\n')[1]!.trim(), async (t) => {
        await refused(t, await fleetWith(t, withSync(lines)), expected)
      })
    await t.test('a folder store with %', async (t) => {
      const fleet = await fleetWith(t, (text) =>
        withSync('  paths:\n    - path: /srv/data\n')(text).replace(
          'file:///srv/backups',
          'file:///srv/%m',
        ),
      )
      await refused(t, fleet, /sync\.store: the folder `\/srv\/%m` contains `%`/)
    })
  },
)

t.test(
  'an ssh.address that is not a host name or IP literal is refused, in one short line',
  async (t) => {
    const fleet = await fleetWith(t, (text) =>
      text.replace('address: 192.0.2.10', `address: ${'a'.repeat(200_000)}`),
    )
    const result = await refused(
      t,
      fleet,
      /ssh\.address: expected a host name or IP address, got 200000 characters/,
    )
    t.ok(result.stderr.length < 1000, `${result.stderr.length} bytes of output`)
  },
)

t.test('inputs that ended in an internal error get their own refusal and exit 1', async (t) => {
  await t.test('deeply nested YAML', async (t) => {
    const deep = 'x: ' + '['.repeat(5000) + ']'.repeat(5000)
    await refused(
      t,
      await fleetWith(t, (text) => text.replace('role: server', `role: server\n${deep}`)),
      /nested too deeply to read|nested more than 32 levels/,
    )
    const block = Array.from({ length: 40 }, (_, i) => `${' '.repeat(8 + 2 * i)}k${i}:`).join('\n')
    await refused(
      t,
      await fleetWith(t, (text) => text.replace('        recordsize: 1M', block)),
      /nested more than 32 levels deep here/,
    )
  })
  await t.test('a huge interval', async (t) => {
    const fleet = await fleetWith(
      t,
      withSync('  paths:\n    - path: /srv/data\n  interval: 99999999999999999999d\n'),
    )
    await refused(t, fleet, /sync\.interval: expected at most 365d between two passes/, [
      'generate',
      'web1',
    ])
  })
  await t.test('a NUL byte inside an SSH key', async (t) => {
    const fleet = await fleetWith(t, (text) =>
      text.replace(/- (ssh-ed25519 AAAA)(\S+) (\S+)/, '- "$1\\0$2 $3"'),
    )
    await refused(t, fleet, /admins\[0\]\.sshKeys\[0\]: expected an OpenSSH public key, .*\\u0000/)
    const keyFile = path.join(fleet, 'nul.pub')
    await writeFile(keyFile, 'ssh-ed25519 AAAAC3Nza\0C1lZDI1NTE5 a@b\n')
    const result = await keystone([
      'host',
      'new',
      'web9',
      '--address',
      '192.0.2.9',
      '--admin',
      'alice',
      '--disk',
      '/dev/disk/by-id/nvme-x',
      '--ssh-key-file',
      keyFile,
      '--fleet',
      fleet,
    ])
    t.equal(result.code, 1, result.stderr)
    t.match(result.stderr, /contains `\\u0000`, which is not base64/)
  })
})

t.test('the hint for a host file name that is no host name offers one that passes', async (t) => {
  const fleet = await fleetWith(t, (text) => text.replace('name: web1', 'name: "Web 1$"'), 'Web 1$')
  const result = await refused(t, fleet, /name: expected a lowercase host name/)
  const offered = /write `([^`]+)`, and name the file after it/.exec(result.stderr)?.[1]
  t.ok(
    offered !== undefined && new RegExp(HOST_NAME_PATTERN).test(offered),
    `offered \`${offered}\`, a valid name`,
  )
  // Taking the hint fixes the file.
  const file = path.join(fleet, 'hosts', 'Web 1$.yaml')
  await writeFile(
    path.join(fleet, 'hosts', `${offered}.yaml`),
    (await readFile(file, 'utf8')).replace('name: "Web 1$"', `name: ${offered}`),
  )
  await rename(file, path.join(fleet, 'Web 1$.yaml.bak'))
  const fixed = await keystone(['check', '--fleet', fleet])
  t.notMatch(fixed.stderr, /hosts\/web-1\.yaml:\d+:\d+/, fixed.stderr)

  const named = await fleetWith(t, (text) => text, 'Web 1$')
  const other = await refused(t, named, /expected `Web 1\$` \(the file name\), got `web1`/)
  t.match(other.stderr, 'hint: rename the file to hosts/web1.yaml (`Web 1$` is not a host name)')
  t.notMatch(other.stderr, 'set name: Web 1$', 'no name is offered that would not pass')
})
