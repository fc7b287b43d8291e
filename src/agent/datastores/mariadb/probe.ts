import { socketProbe } from '../socket-probe.js'
import { AGENT_DB_USER } from './driver.js'

const CLIENT_LONG_PASSWORD = 0x1
const CLIENT_PROTOCOL_41 = 0x200
const CLIENT_SECURE_CONNECTION = 0x8000
const CLIENT_PLUGIN_AUTH = 0x80000
const COM_QUIT = 0x01
const COM_PING = 0x0e

function packet(seq: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(4)
  head.writeUIntLE(payload.length, 0, 3)
  head[3] = seq & 0xff
  return Buffer.concat([head, payload])
}

/** HandshakeResponse41 for the agent's account (root on the host) with no password: it authenticates via unix_socket. */
function handshakeResponse(): Buffer {
  const fixed = Buffer.alloc(32)
  fixed.writeUInt32LE(CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH, 0)
  fixed.writeUInt32LE(16 * 1024 * 1024, 4)
  fixed[8] = 45 // utf8mb4_general_ci; the remaining 23 bytes are filler
  return Buffer.concat([fixed, Buffer.from(`${AGENT_DB_USER}\0`), Buffer.from([0]), Buffer.from('mysql_native_password\0')])
}

/**
 * Logs in as root over the unix socket (socket auth, no password) and sends COM_PING:
 * true only when the server really serves sessions, unlike `mariadb-admin ping`, which
 * also succeeds on "access denied". Before InnoDB is up the socket does not exist yet.
 */
export function mariadbPing(socketPath: string, timeoutMs: number): Promise<boolean> {
  let stage: 'greeting' | 'auth' | 'ping' = 'greeting'
  let offset = 0
  return socketProbe(socketPath, timeoutMs, undefined, (buf, socket) => {
    while (buf.length - offset >= 4) {
      const len = buf.readUIntLE(offset, 3)
      const seq = buf[offset + 3]!
      if (buf.length - offset - 4 < len) return undefined
      const first = buf[offset + 4]
      offset += 4 + len
      if (first === 0xff) return false // ERR: too many connections, access denied, ...
      if (stage === 'greeting') {
        if (first !== 10) return false // not protocol v10
        socket.write(packet(seq + 1, handshakeResponse()))
        stage = 'auth'
      } else if (stage === 'auth') {
        if (first === 0x00) {
          socket.write(packet(0, Buffer.from([COM_PING])))
          stage = 'ping'
        } else if (first === 0xfe) {
          socket.write(packet(seq + 1, Buffer.alloc(0))) // auth switch: socket auth needs no data
        } else return false
      } else {
        // Say goodbye so the server does not log an aborted connection for every probe.
        if (first === 0x00) socket.write(packet(0, Buffer.from([COM_QUIT])))
        return first === 0x00
      }
    }
    return undefined
  })
}
