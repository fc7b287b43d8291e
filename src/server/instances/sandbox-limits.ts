import { badRequest } from '../errors.js'
import type { Lab } from '../lab.js'

/**
 * What an instance in a sandbox (docs/isolation.md) cannot do yet, refused before anything starts
 * (400, the reason named) rather than half-run: replicas (replication between members of a set through
 * the bridge is not built). Resizes grow the volume and update the limits (compute/sandbox-resize.ts); backups,
 * restores (to a point in time too), the log archive and log publishing stream through the server's object
 * store (object-store/endpoint.ts, archive.ts) and are not refused.
 */
export const SANDBOX_MANAGERS = new Set(['redis', 'mariadb', 'postgresql'])

const WHY = 'it runs in a sandbox (isolation sandbox, docs/isolation.md)'

/** Refuses `what` for a sandboxed instance (`because`: what the sandbox lacks for it). */
export function refuseInSandbox(lab: Lab, instanceId: string, what: string, because: string): void {
  if (lab.compute.isolationOf(instanceId) === 'sandbox') throw badRequest(`${what} of instance ${instanceId} is not supported yet: ${WHY}, ${because}.`)
}

/** Refuses a create the lab's sandboxes cannot run yet (a datastore, a replica). */
export function refuseNewInSandbox(lab: Lab, o: { manager?: string; replica?: boolean }): void {
  if (lab.compute.isolation !== 'sandbox') return
  const tail = 'this lab gives every new instance a sandbox (trove server --isolation sandbox, docs/isolation.md)'
  if (o.manager !== undefined && !SANDBOX_MANAGERS.has(o.manager)) throw badRequest(`Datastore '${o.manager}' does not run in a sandbox yet (only ${[...SANDBOX_MANAGERS].join(', ')}): ${tail}.`)
  if (o.replica) throw badRequest(`Replicas are not supported yet: ${tail}.`)
}
