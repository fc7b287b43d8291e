import { Duplex, Transform, type TransformCallback } from 'node:stream'
import type { Server, Socket } from 'node:net'

/** Largest packet before the client's CONNECT is accepted (an agent's CONNECT is ~300 bytes). */
export const PRE_CONNECT_MAX_PACKET = 4 * 1024
/** Open connections (finished or not) one source address may hold. */
export const MAX_CONNECTIONS_PER_SOURCE = 32

/**
 * Enforces MQTT packet size limits on the byte stream, in front of aedes. Hand-written
 * because neither aedes 1.2 nor mqtt-packet 9 has a limit: aedes builds its parser with
 * no options, and mqtt-packet buffers a packet's whole remaining length (up to 256 MB)
 * before it looks at it, so one unfinished CONNECT could hold 256 MB. This reads only the
 * fixed header of each packet (type byte and the variable-length remaining length,
 * MQTT 3.1.1 section 2.2.3) and fails the stream as soon as a header announces more
 * than `limit()` allows; the first packet must be a CONNECT.
 */
export class PacketSizeGuard extends Transform {
  private state: 'type' | 'length' | 'body' = 'type'
  private first = true
  private length = 0
  private multiplier = 1
  private left = 0

  constructor(private readonly limit: () => number) {
    super()
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let i = 0
    while (i < chunk.length) {
      if (this.state === 'body') {
        const n = Math.min(this.left, chunk.length - i)
        this.left -= n
        i += n
        if (this.left === 0) this.state = 'type'
        continue
      }
      const byte = chunk[i++]!
      if (this.state === 'type') {
        if (this.first && byte >> 4 !== 1) {
          done(new Error('the first packet is not a CONNECT'))
          return
        }
        this.first = false
        this.state = 'length'
        this.length = 0
        this.multiplier = 1
        continue
      }
      this.length += (byte & 0x7f) * this.multiplier
      this.multiplier *= 128
      if (this.length > this.limit()) {
        done(new Error(`packet larger than ${this.limit()} bytes`))
        return
      }
      if (byte & 0x80) {
        if (this.multiplier > 128 ** 3) {
          done(new Error('malformed remaining length'))
          return
        }
        continue
      }
      this.left = this.length
      this.state = this.left > 0 ? 'body' : 'type'
    }
    done(null, chunk)
  }
}

/**
 * The socket as aedes sees it: reads pass through a PacketSizeGuard, writes go
 * straight to the socket; destroying either destroys both.
 */
export function guardedConnection(socket: Socket | Duplex, limit: () => number): Duplex {
  const guard = new PacketSizeGuard(limit)
  socket.pipe(guard)
  const conn = Duplex.from({ readable: guard, writable: socket })
  guard.on('error', (err) => {
    socket.destroy()
    conn.destroy(err)
  })
  socket.on('error', (err) => conn.destroy(err))
  // A socket that ended cleanly has its last packets (a DISCONNECT, say) still in the guard:
  // the end reaches aedes through the guard. Only a socket gone without an end is cut short.
  socket.on('close', () => {
    if (!guard.writableEnded) conn.destroy()
  })
  conn.on('close', () => socket.destroy())
  return conn
}

/**
 * Caps the connections one source address holds on `server` (counted from the TCP
 * accept, so unfinished TLS handshakes and CONNECTs count): the connection over the
 * cap is closed at once. Agents dial from their own instance address, so one address
 * is one agent (or the lab's own tools on the listen address).
 */
export function capConnectionsPerSource(server: Server, max: number): void {
  const open = new Map<string, number>()
  server.on('connection', (socket: Socket) => {
    const from = socket.remoteAddress ?? '?'
    const n = (open.get(from) ?? 0) + 1
    if (n > max) {
      socket.destroy()
      return
    }
    open.set(from, n)
    socket.once('close', () => {
      const left = (open.get(from) ?? 1) - 1
      if (left > 0) open.set(from, left)
      else open.delete(from)
    })
  })
}
