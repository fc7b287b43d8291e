import type { Lab } from '../lab.js'
import { RPC_TIMEOUT } from '../broker/rpc.js'

/**
 * Continuous archiving follows the backup retention (issue 15 item 3): on while it is more
 * than 0 days. The bootstrap is rewritten first (an agent that starts later reads it),
 * then the running agent is told; an agent that does not answer now follows the
 * bootstrap when it next starts.
 */
export function applyArchiving(lab: Lab, instanceId: string, enabled: boolean): void {
  if (!lab.compute.hasBootstrap(instanceId)) return
  lab.compute.updateBootstrap(instanceId, (b) => {
    b.archive = enabled
  })
  lab.rpc.call(instanceId, 'set_archiving', { enabled }, RPC_TIMEOUT.low).then(
    (s) => lab.log(`instance ${instanceId}: archiving ${enabled ? 'on' : 'off'} (${s.state})`),
    (e: Error) => lab.log(`instance ${instanceId}: archiving ${enabled ? 'on' : 'off'} at the agent's next start (${e.message})`),
  )
}
