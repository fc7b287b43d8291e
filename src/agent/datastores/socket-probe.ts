import { connect, type Socket } from 'node:net'

/**
 * A readiness probe over the engine's unix socket: cheaper than spawning a client every
 * 20-50 ms. `step` sees all bytes received so far and returns true/false when it has
 * its answer, or undefined to wait for more. Connection errors (no socket yet, refused)
 * and timeouts count as "not answering"; it never throws.
 */
export function socketProbe(path: string, timeoutMs: number, greeting: Buffer | undefined, step: (received: Buffer, socket: Socket) => boolean | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    let received = Buffer.alloc(0)
    let settled = false
    const socket = connect({ path })
    const finish = (ok: boolean): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => finish(false), timeoutMs)
    socket.once('error', () => finish(false))
    socket.once('close', () => finish(false))
    if (greeting) socket.once('connect', () => socket.write(greeting))
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      try {
        const verdict = step(received, socket)
        if (verdict !== undefined) finish(verdict)
      } catch {
        finish(false)
      }
    })
  })
}
