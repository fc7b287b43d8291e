import t from 'tap'
import fc from 'fast-check'
import { PacketSizeGuard } from '../../src/server/broker/limits.js'

/** An MQTT packet: type byte, variable-length remaining length (MQTT 3.1.1 2.2.3), body. */
function packet(type: number, bodyLength: number): Buffer {
  const len: number[] = []
  let n = bodyLength
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    len.push(b)
  } while (n > 0)
  return Buffer.concat([Buffer.from([type << 4, ...len]), Buffer.alloc(bodyLength, 0x61)])
}

/** Feeds `bytes` to a guard in the given chunk sizes; what passed and the error, if any. */
async function feed(limit: () => number, bytes: Buffer, cuts: number[]): Promise<{ out: Buffer; error?: string }> {
  const g = new PacketSizeGuard(limit)
  const out: Buffer[] = []
  g.on('data', (d: Buffer) => out.push(d))
  const ended = new Promise<string | undefined>((resolve) => {
    g.on('error', (e) => resolve(e.message))
    g.on('end', () => resolve(undefined))
  })
  let at = 0
  for (const c of cuts) {
    if (at >= bytes.length) break
    g.write(bytes.subarray(at, at + c))
    at += c
  }
  if (at < bytes.length) g.write(bytes.subarray(at))
  g.end()
  const error = await ended
  return { out: Buffer.concat(out), ...(error ? { error } : {}) }
}

t.test('a stream of packets within the limits passes unchanged, however it is cut into chunks', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 300 }),
      fc.array(fc.record({ type: fc.integer({ min: 2, max: 14 }), len: fc.integer({ min: 0, max: 20_000 }) }), { maxLength: 8 }),
      fc.array(fc.integer({ min: 1, max: 5000 }), { maxLength: 40 }),
      async (connectLen, rest, cuts) => {
        const bytes = Buffer.concat([packet(1, connectLen), ...rest.map((p) => packet(p.type, p.len))])
        const r = await feed(() => 20_000, bytes, cuts)
        return r.error === undefined && r.out.equals(bytes)
      },
    ),
    { numRuns: 200 },
  )
})

t.test('the guard fails on the first header over the limit, and on a first packet that is not CONNECT', async (t) => {
  t.match(await feed(() => 4096, packet(1, 4097), [1, 1, 1, 1]), { error: 'packet larger than 4096 bytes' }, 'a CONNECT over the pre-CONNECT limit')
  // Only the header is needed: 250 MB announced, 5 bytes sent.
  t.match(await feed(() => 4096, Buffer.from([0x10, 0xff, 0xff, 0xff, 0x77]), [5]), { error: 'packet larger than 4096 bytes' }, 'a 250 MB CONNECT header alone')
  t.match(await feed(() => 4096, packet(3, 10), [100]), { error: 'the first packet is not a CONNECT' }, 'a PUBLISH first')
  // The broker's limit grows once the client is connected (aedes accepted its CONNECT).
  let connected = false
  const g = new PacketSizeGuard(() => (connected ? 1000 : 100))
  const failed = new Promise<string>((resolve) => g.on('error', (e) => resolve(e.message)))
  g.resume()
  g.write(packet(1, 50))
  connected = true
  g.write(packet(3, 999))
  g.write(packet(3, 1001))
  t.equal(await failed, 'packet larger than 1000 bytes', 'the limit after CONNECT: 999 passes, 1001 fails')
  t.match(await feed(() => 1 << 30, Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01]), [6]), { error: 'malformed remaining length' }, 'a fifth length byte')
})
