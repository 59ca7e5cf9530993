// A counting proxy in front of the S3 server: every tool in the sync benchmark talks to the
// server through it, so requests and uploaded bytes are counted the same way for all of them
// (the servers' own metrics lag by seconds). The Host header passes through unchanged, so SigV4
// signatures, computed over it, still verify. With `tls` (the server's certificate and key and
// the CA that signed them) it speaks TLS on both sides, as the server does: the tools see a TLS
// endpoint whose certificate they must trust through their CA option, like the server's own.
import http from 'node:http'
import https from 'node:https'
import { readFileSync } from 'node:fs'

export async function startCountingProxy(target, tls) {
  const upstream = new URL(target)
  const secure = tls !== undefined
  const ca = secure ? readFileSync(tls.caFile) : undefined
  const agent = secure
    ? new https.Agent({ keepAlive: true, maxSockets: 256, ca })
    : new http.Agent({ keepAlive: true, maxSockets: 256 })
  const counts = {
    requests: 0,
    put: 0,
    get: 0,
    head: 0,
    list: 0,
    post: 0,
    delete: 0,
    uploadedBytes: 0,
    downloadedBytes: 0,
  }
  const handle = (req, res) => {
    counts.requests++
    const url = new URL(req.url, 'http://x')
    const method = req.method ?? 'GET'
    if (method === 'PUT') counts.put++
    else if (method === 'HEAD') counts.head++
    else if (method === 'POST') counts.post++
    else if (method === 'DELETE') counts.delete++
    else if (
      method === 'GET' &&
      (url.searchParams.has('list-type') || url.pathname.split('/').filter(Boolean).length <= 1)
    )
      counts.list++
    else counts.get++
    req.on('data', (d) => (counts.uploadedBytes += d.length))
    const forward = (secure ? https : http).request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.on('data', (d) => (counts.downloadedBytes += d.length))
        answer.pipe(res)
      },
    )
    forward.on('error', () => {
      if (!res.headersSent) res.writeHead(502)
      res.end()
    })
    req.pipe(forward)
  }
  const server = secure
    ? https.createServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }, handle)
    : http.createServer(handle)
  server.keepAliveTimeout = 60_000
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  return {
    endpoint: `${secure ? 'https' : 'http'}://127.0.0.1:${port}`,
    snapshot: () => ({ ...counts }),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(resolve)
      }),
  }
}
