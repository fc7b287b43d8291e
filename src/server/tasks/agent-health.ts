import type { Lab } from '../lab.js'
import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Is the instance's "server" up? The lab has no Nova: the server is the agent
 * process. It is up when its process is alive, or, for an agent this server did
 * not start (tests drive scripted agents), when its last heartbeat is fresh.
 */
export function agentReachable(lab: Lab, id: string): boolean {
  if (lab.compute.agentAlive(id)) return true
  const sent = lab.instances.lastSent(id)
  return sent !== undefined && sent > 0 && Date.now() - sent < lab.config.heartbeatExpiryMs
}

/** Has the guest reported HEALTHY in a heartbeat sent at or after `since` (epoch ms)? */
export function healthySince(lab: Lab, id: string, since: number): boolean {
  const row = lab.instances.lastReport(id)
  return row?.status_description === 'healthy' && row.last_sent >= since
}

/** Has the agent sent any heartbeat at or after `since` (epoch ms), i.e. is it connected again? */
export function heardSince(lab: Lab, id: string, since: number): boolean {
  const sent = lab.instances.lastSent(id)
  return sent !== undefined && sent >= since
}

/**
 * Waits (up to a heartbeat expiry) until the guest answers a ping on this broker. Right
 * after a server restart its agent is not back yet, and a call published before it is
 * lost: a call or cast would wait out its whole timeout (a snapshot: 30 min).
 */
export async function answering(lab: Lab, id: string): Promise<boolean> {
  const since = Date.now()
  for (;;) {
    if (lab.tasks.isClosed) throw new Error('server shutting down')
    try {
      await lab.rpc.call(id, 'rpc_ping', {}, 2_000)
      return true
    } catch {
      if (Date.now() - since > lab.config.heartbeatExpiryMs) return false
      await sleep(200)
    }
  }
}
