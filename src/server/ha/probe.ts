import { connect } from 'node:net'

/**
 * The server's own look at an engine (issue 16 item 2): a TCP connection to its address and port
 * and the first step of its protocol, no login. PostgreSQL answers an SSLRequest with one byte
 * ('S' or 'N'); MariaDB greets every new connection with its handshake packet (protocol 10, or an
 * error packet when it refuses the host: still the engine); Redis answers PING with a reply line
 * (+PONG, or -NOAUTH: still the engine). A port something else holds, a hung engine (SIGSTOP) or a
 * dead one fails within `timeoutMs`. Hand-written: no client library does a login-less handshake.
 */
export function probeEngine(manager: string, host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0)
    const s = connect({ host, port })
    const done = (ok: boolean) => {
      clearTimeout(timer)
      s.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => done(false), timeoutMs)
    s.once('error', () => done(false))
    s.once('connect', () => {
      if (manager === 'postgresql') s.write(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]))
      else if (manager === 'redis') s.write('PING\r\n')
    })
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d])
      if (manager === 'postgresql') done(got[0] === 0x53 || got[0] === 0x4e)
      else if (manager === 'redis') {
        if (got.includes(0x0a)) done(got[0] === 0x2b || got[0] === 0x2d)
      } else if (got.length >= 5) done(got[4] === 0x0a || got[4] === 0xff)
    })
  })
}
