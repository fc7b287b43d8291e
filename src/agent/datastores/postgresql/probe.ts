import { readFile } from 'node:fs/promises'
import { socketProbe } from '../socket-probe.js'

const PROTOCOL_3 = 196608
const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4])

function startupMessage(): Buffer {
  const params = Buffer.from('user\0postgres\0database\0postgres\0application_name\0trove-agent\0\0')
  const msg = Buffer.alloc(8 + params.length)
  msg.writeInt32BE(msg.length, 0)
  msg.writeInt32BE(PROTOCOL_3, 4)
  params.copy(msg, 8)
  return msg
}

/**
 * The postmaster's own readiness flag, line 8 of postmaster.pid ("ready" or, on a hot
 * standby, "standby"): what `pg_ctl -w` polls. Checking it first keeps start-up probes
 * from logging "FATAL: the database system is starting up" at every poll.
 */
export async function postmasterReady(pidFile: string): Promise<boolean> {
  try {
    const status = (await readFile(pidFile, 'utf8')).split('\n')[7]?.trim()
    return status === 'ready' || status === 'standby'
  } catch {
    return false
  }
}

/**
 * Opens a session as postgres over the unix socket (trust) and waits for ReadyForQuery:
 * what pg_isready checks, without a process per poll. While the server starts up,
 * recovers or shuts down it answers with an ErrorResponse (57P03), which is "not yet".
 */
export async function postgresPing(socketPath: string, pidFile: string, timeoutMs: number): Promise<boolean> {
  if (!(await postmasterReady(pidFile))) return false
  let offset = 0
  return socketProbe(socketPath, timeoutMs, startupMessage(), (buf, socket) => {
    while (buf.length - offset >= 5) {
      const type = String.fromCharCode(buf[offset]!)
      const len = buf.readInt32BE(offset + 1)
      if (buf.length - offset - 1 < len) return undefined
      const body = buf.subarray(offset + 5, offset + 1 + len)
      offset += 1 + len
      if (type === 'E') return false
      if (type === 'R' && body.readInt32BE(0) !== 0) return false // wants a password: not our trust setup
      if (type === 'Z') {
        socket.write(TERMINATE)
        return true
      }
    }
    return undefined
  })
}
