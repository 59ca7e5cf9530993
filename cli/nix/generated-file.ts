import { createHash } from 'node:crypto'

// Generated files carry a header naming their source and a digest of their body, so that
// `keystone check` can tell a stale file (body matches its digest, not the host file) from a
// hand-edited one (body no longer matches its own digest).

const DIGEST_PREFIX = '# digest: sha256:'

function digestOf(body: string): string {
  return createHash('sha256').update(body).digest('hex').slice(0, 32)
}

export function withHeader(sourceFile: string, command: string, body: string): string {
  return [
    `# Generated from ${sourceFile} by \`${command}\` — do not edit.`,
    `${DIGEST_PREFIX}${digestOf(body)}`,
    body,
  ].join('\n')
}

export type Provenance = 'intact' | 'hand-edited' | 'not-generated'

export function checkProvenance(text: string): Provenance {
  const lines = text.split('\n')
  const digestLine = lines[1]
  if (!lines[0]?.startsWith('# Generated from ') || digestLine === undefined || !digestLine.startsWith(DIGEST_PREFIX)) {
    return 'not-generated'
  }
  const body = lines.slice(2).join('\n')
  return digestLine.slice(DIGEST_PREFIX.length) === digestOf(body) ? 'intact' : 'hand-edited'
}
