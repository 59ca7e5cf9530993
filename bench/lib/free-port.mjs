import { createServer } from 'node:net'

// A loopback TCP port nothing listens on right now, for a test or benchmark server to take.
export const freePort = () =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
