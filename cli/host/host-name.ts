// Host names: DNS labels, which the file name, networking.hostName and the mesh all take.
export const HOST_NAME_PATTERN = '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'

// A host name close to `text` that HOST_NAME_PATTERN accepts: lower case, each run of other
// characters one hyphen, none at the ends, at most 63 characters.
export function suggestHostName(text: string): string {
  const slug = text
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, 63)
    .replace(/^-+|-+$/g, '')
  return slug === '' ? 'host1' : slug
}
