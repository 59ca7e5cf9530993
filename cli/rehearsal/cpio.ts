// A cpio archive in the "newc" format the Linux kernel unpacks as an initramfs
// (Documentation/driver-api/early-userspace/buffer-format.rst): a 110-byte ASCII header per
// entry, the name and the data each padded to 4 bytes, ended by `TRAILER!!!`. Archives loaded
// one after another are unpacked in order, so a later one adds files to, or replaces files of,
// an earlier one — how the rehearsal adds Keystone's units to the guest's initrd.

export type CpioEntry =
  | { path: string; type: 'dir'; mode?: number }
  | { path: string; type: 'file'; mode?: number; data: string | Uint8Array }
  | { path: string; type: 'symlink'; target: string }

const S_IFDIR = 0o040000
const S_IFREG = 0o100000
const S_IFLNK = 0o120000

const hex = (value: number) => value.toString(16).padStart(8, '0')
const pad4 = (length: number) => Buffer.alloc((4 - (length % 4)) % 4)

function header(fields: {
  ino: number
  mode: number
  size: number
  nameSize: number
  nlink: number
}): Buffer {
  const values = [
    fields.ino,
    fields.mode,
    0, // uid: root
    0, // gid
    fields.nlink,
    0, // mtime: fixed, so the same input gives the same bytes
    fields.size,
    0,
    0,
    0,
    0,
    fields.nameSize,
    0, // check: only for the "070702" format
  ]
  return Buffer.from('070701' + values.map(hex).join(''), 'ascii')
}

export function cpioArchive(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = []
  let ino = 1
  const add = (name: string, mode: number, data: Buffer, nlink: number) => {
    const nameBytes = Buffer.from(name + '\0', 'utf8')
    const head = header({ ino: ino++, mode, size: data.length, nameSize: nameBytes.length, nlink })
    parts.push(head, nameBytes, pad4(head.length + nameBytes.length), data, pad4(data.length))
  }
  for (const entry of entries) {
    // Names are relative to the archive's root: `etc/crypttab`.
    const name = entry.path.replace(/^\/+/, '')
    if (name === '' || name.split('/').includes('..'))
      throw new Error(`cpio: refusing the path ${JSON.stringify(entry.path)}`)
    if (entry.type === 'dir') add(name, S_IFDIR | (entry.mode ?? 0o755), Buffer.alloc(0), 2)
    else if (entry.type === 'file')
      add(name, S_IFREG | (entry.mode ?? 0o644), Buffer.from(entry.data), 1)
    else add(name, S_IFLNK | 0o777, Buffer.from(entry.target, 'utf8'), 1)
  }
  add('TRAILER!!!', 0, Buffer.alloc(0), 1)
  return Buffer.concat(parts)
}
