// Sizes as host files write them (`512M`, `8G`): whole numbers with a binary unit, the form
// both sgdisk (through disko) and `zfs create -V` accept.
const UNITS: Record<string, number> = { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }

export function parseSize(text: string): number | undefined {
  const match = /^([1-9][0-9]*)([KMGT])$/.exec(text)
  if (match === null) return undefined
  const bytes = Number(match[1]) * UNITS[match[2]!]!
  return Number.isSafeInteger(bytes) ? bytes : undefined
}

// The inverse of parseSize: the literal a host file would write, `4G`, or the bare count when no
// unit divides it.
export function formatSizeLiteral(bytes: number): string {
  for (const unit of ['T', 'G', 'M', 'K'] as const) {
    const size = UNITS[unit]!
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`
  }
  return `${bytes}`
}
