import { createConnection } from 'node:net'

// Whether something listens on this loopback TCP port: how the tests wait for a server they start.
export const acceptsConnections = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })

export { freePort } from '../../bench/lib/free-port.mjs'
