import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort } from './loopback-port.js'
import { needs } from './needs.js'

// A real S3 server on loopback: MinIO, built by .ci/run with a pinned `go install` (the version
// is in .ci/run and the README). It verifies SigV4 signatures and payload hashes, honours
// If-None-Match and writes objects to disk before answering, unlike npm S3 emulators.
export interface TestMinio {
  endpoint: string
  credentialsFile: string // AWS_ACCESS_KEY_ID=… lines, as `keystone agent init --s3-credentials` reads
  dataDir: string
  // Kills the server (SIGKILL: no goodbye) and, with `start`, brings it back on the same port.
  kill(): Promise<void>
  start(): Promise<void>
  stop(): Promise<void>
}

export const needsMinio = () => needs('minio', ['--version'])

export async function startMinio(): Promise<TestMinio> {
  const dir = await mkdtemp(path.join(tmpdir(), 'keystone-minio-'))
  const dataDir = path.join(dir, 'data')
  const port = await freePort()
  const consolePort = await freePort()
  const endpoint = `http://127.0.0.1:${port}`
  const user = 'keystone-test'
  const password = 'keystone-test-secret'
  const credentialsFile = path.join(dir, 's3-credentials')
  await writeFile(
    credentialsFile,
    `AWS_ACCESS_KEY_ID=${user}\nAWS_SECRET_ACCESS_KEY=${password}\n`,
    { mode: 0o600 },
  )
  let child: ChildProcess | undefined

  const start = async () => {
    const log: string[] = []
    child = spawn(
      'minio',
      [
        'server',
        dataDir,
        '--address',
        `127.0.0.1:${port}`,
        '--console-address',
        `127.0.0.1:${consolePort}`,
        '--quiet',
      ],
      {
        env: {
          ...process.env,
          MINIO_ROOT_USER: user,
          MINIO_ROOT_PASSWORD: password,
          MINIO_BROWSER: 'off',
          MINIO_UPDATE: 'off',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    child.stdout!.on('data', (d: Buffer) => log.push(d.toString()))
    child.stderr!.on('data', (d: Buffer) => log.push(d.toString()))
    for (let i = 0; i < 300; i++) {
      if (child.exitCode !== null)
        throw new Error(`minio exited ${child.exitCode}: ${log.join('')}`)
      const ready = await fetch(`${endpoint}/minio/health/ready`).then(
        (r) => r.ok,
        () => false,
      )
      if (ready) return
      await sleep(100)
    }
    throw new Error(`minio did not become ready: ${log.join('')}`)
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
    endpoint,
    credentialsFile,
    dataDir,
    kill,
    start,
    stop: async () => {
      await kill()
      await rm(dir, { recursive: true, force: true })
    },
  }
}
