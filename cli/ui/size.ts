// Byte counts for people, in one place. Data and memory are counted in binary units (4.00 KiB,
// 12.3 MiB, as du -h and free -h do); disks in the decimal units they are sold and listed by
// (a "2.0 TB" disk, as vendors and lsblk's model names write it). Host-file size literals
// (`512M`, `8G`) are syntax, not prose: host/sizes.ts writes and reads those.

const BINARY = { base: 1024, units: ['B', 'KiB', 'MiB', 'GiB', 'TiB'] }
const DECIMAL = { base: 1000, units: ['B', 'kB', 'MB', 'GB', 'TB', 'PB'] }

function scaled(
  bytes: number,
  { base, units }: { base: number; units: string[] },
  digits: (value: number) => number,
): string {
  let value = bytes
  let unit = 0
  while (value >= base && unit < units.length - 1) {
    value /= base
    unit++
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(digits(value))} ${units[unit]}`
}

// 1023 B, 4.00 KiB, 12.3 MiB, 1.20 GiB.
export const formatBytes = (bytes: number): string =>
  scaled(bytes, BINARY, (value) => (value < 10 ? 2 : 1))

// 512 B, 8.6 GB, 2.0 TB: a disk's size as its label and its vendor say it.
export const formatDiskSize = (bytes: number): string => scaled(bytes, DECIMAL, () => 1)

// Memory as preflight compares it, always in GiB: 1.5 GiB, 0.9 GiB.
export const formatGiB = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(1)} GiB`
