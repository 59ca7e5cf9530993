// A throwaway certificate authority and a server certificate it signed for 127.0.0.1, made with
// the real openssl, so the S3 servers of the tests and benchmarks speak TLS and the agent trusts
// them through its documented CA option (`--s3-ca`), never by turning verification off. One per
// process: the keys are test material, made fresh and never reused across runs.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

let made

export function throwawayCa() {
  if (made !== undefined) return made
  const dir = mkdtempSync(path.join(tmpdir(), 'keystone-throwaway-ca-'))
  // The keys go with the process that made them.
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
  const at = (name) => path.join(dir, name)
  const openssl = (...args) => execFileSync('openssl', args, { stdio: 'pipe' })
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  openssl('req', '-x509', ...ec, '-keyout', at('ca.key'), '-out', at('ca.crt'), '-days', '2', '-subj', '/CN=Keystone throwaway CA')
  openssl('req', ...ec, '-keyout', at('server.key'), '-out', at('server.csr'), '-subj', '/CN=127.0.0.1')
  writeFileSync(
    at('server.ext'),
    [
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      'basicConstraints=CA:FALSE',
      'keyUsage=digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      '',
    ].join('\n'),
  )
  openssl(
    'x509', '-req', '-in', at('server.csr'), '-CA', at('ca.crt'), '-CAkey', at('ca.key'),
    '-CAcreateserial', '-out', at('server.crt'), '-days', '2', '-extfile', at('server.ext'),
  )
  made = { caFile: at('ca.crt'), certFile: at('server.crt'), keyFile: at('server.key') }
  return made
}
