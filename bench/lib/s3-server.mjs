// Real S3 servers on loopback for the tests and the benchmarks, each built by
// scripts/go-tools.sh from a pinned version: MinIO, and SeaweedFS (`weed mini`: master, volume,
// filer and S3 gateway in one process), the store Keystone was designed for. Both verify SigV4
// signatures and payload hashes and keep objects on disk. Over TLS they present a certificate
// from a throwaway CA (throwaway-ca.mjs) that clients trust through their CA option.
import { execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort } from './free-port.mjs'
import { throwawayCa } from './throwaway-ca.mjs'

export const S3_SERVER_COMMANDS = {
  minio: { command: 'minio', probe: ['--version'] },
  seaweedfs: { command: 'weed', probe: ['version'] },
}

const USER = 'keystone-test'
const PASSWORD = 'keystone-test-secret'

export async function startS3Server({ kind, tls, dir: parent = tmpdir() }) {
  const dir = await mkdtemp(path.join(parent, `keystone-${kind}-`))
  const dataDir = path.join(dir, 'data')
  await mkdir(dataDir)
  const credentialsFile = path.join(dir, 's3-credentials')
  await writeFile(credentialsFile, `AWS_ACCESS_KEY_ID=${USER}\nAWS_SECRET_ACCESS_KEY=${PASSWORD}\n`, {
    mode: 0o600,
  })
  const certificates = tls ? throwawayCa() : undefined
  const launch =
    kind === 'minio'
      ? await minioLaunch(dir, dataDir, certificates)
      : await seaweedLaunch(dataDir, certificates)
  const endpoint = `${tls ? 'https' : 'http'}://127.0.0.1:${launch.port}`
  const ca = certificates && readFileSync(certificates.caFile)
  let child

  const start = async () => {
    const log = []
    child = spawn(S3_SERVER_COMMANDS[kind].command, launch.args, {
      env: { ...process.env, ...launch.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    child.stdout.on('data', (d) => log.push(d.toString()))
    child.stderr.on('data', (d) => log.push(d.toString()))
    for (let i = 0; i < 600; i++) {
      if (child.exitCode !== null) throw new Error(`${kind} exited ${child.exitCode}: ${log.join('')}`)
      if (await answers(`${endpoint}${launch.health}`, ca)) return
      await sleep(100)
    }
    throw new Error(`${kind} did not become ready: ${log.join('')}`)
  }

  const kill = async () => {
    const c = child
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return
    const exited = new Promise((resolve) => c.once('exit', resolve))
    c.kill('SIGKILL')
    await exited
  }

  await start()
  return {
    kind,
    tls,
    endpoint,
    credentials: { AWS_ACCESS_KEY_ID: USER, AWS_SECRET_ACCESS_KEY: PASSWORD },
    credentialsFile,
    ...(certificates && { caFile: certificates.caFile, certificates }),
    dataDir,
    pid: () => child?.pid,
    kill,
    start,
    stop: async () => {
      await kill()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

// The version line the server prints, for a benchmark's heading.
export function s3ServerVersion(kind) {
  const { command, probe } = S3_SERVER_COMMANDS[kind]
  return execFileSync(command, probe).toString().split('\n')[0].trim()
}

async function minioLaunch(dir, dataDir, certificates) {
  const port = await freePort()
  const certsDir = path.join(dir, 'certs')
  await mkdir(certsDir)
  // MinIO serves TLS when its certs dir holds public.crt and private.key.
  if (certificates !== undefined) {
    await writeFile(path.join(certsDir, 'public.crt'), readFileSync(certificates.certFile))
    await writeFile(path.join(certsDir, 'private.key'), readFileSync(certificates.keyFile))
  }
  return {
    port,
    args: [
      'server',
      dataDir,
      '--address',
      `127.0.0.1:${port}`,
      '--console-address',
      `127.0.0.1:${await freePort()}`,
      '--certs-dir',
      certsDir,
      '--quiet',
    ],
    env: {
      MINIO_ROOT_USER: USER,
      MINIO_ROOT_PASSWORD: PASSWORD,
      MINIO_BROWSER: 'off',
      MINIO_UPDATE: 'off',
    },
    health: '/minio/health/ready',
  }
}

// `weed mini` (seaweedfs weed/command/mini.go): every listener on a port of ours, on loopback;
// the extra gateways (WebDAV, admin UI, Iceberg, Lance) and telemetry off. With a key file the
// S3 port speaks TLS (weed/command/s3.go: without -s3.port.https, TLS is on -s3.port). The
// credentials are the admin identity read from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
// (weed/s3api/auth_credentials.go).
async function seaweedLaunch(dataDir, certificates) {
  const ports = {}
  for (const name of [
    'master.port',
    'master.port.grpc',
    'volume.port',
    'volume.port.grpc',
    'filer.port',
    'filer.port.grpc',
    's3.port',
    's3.port.grpc',
  ])
    ports[name] = await freePort()
  return {
    port: ports['s3.port'],
    args: [
      'mini',
      `-dir=${dataDir}`,
      '-ip=127.0.0.1',
      '-ip.bind=127.0.0.1',
      ...Object.entries(ports).map(([name, port]) => `-${name}=${port}`),
      '-webdav=false',
      '-admin.ui=false',
      '-s3.port.iceberg=0',
      '-s3.port.lance=0',
      '-master.telemetry=false',
      ...(certificates === undefined
        ? []
        : [`-s3.cert.file=${certificates.certFile}`, `-s3.key.file=${certificates.keyFile}`]),
    ],
    env: { AWS_ACCESS_KEY_ID: USER, AWS_SECRET_ACCESS_KEY: PASSWORD },
    health: '/healthz',
  }
}

// A 2xx answer from the URL; over TLS with the throwaway CA as the only trusted root.
function answers(url, ca) {
  if (ca === undefined)
    return fetch(url).then(
      (r) => r.ok,
      () => false,
    )
  return new Promise((resolve) => {
    const req = request(url, { ca, timeout: 2_000 }, (res) => {
      res.resume()
      resolve((res.statusCode ?? 500) < 300)
    })
    req.once('error', () => resolve(false))
    req.once('timeout', () => req.destroy())
    req.end()
  })
}
