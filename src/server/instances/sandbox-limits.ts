import { badRequest } from '../errors.js'
import type { Lab } from '../lab.js'

/**
 * What an instance in a sandbox (docs/isolation.md) cannot do yet, refused before anything starts
 * (400, the reason named) rather than half-run: a replica of an instance without a sandbox. Resizes grow the
 * volume and update the limits (compute/sandbox-resize.ts); replicas replicate over the bridge (replication sets
 * in the packet filter); backups, restores (to a point in time too), the log archive and log publishing stream
 * through the server's object store (object-store/endpoint.ts, archive.ts) and are not refused.
 */
export const SANDBOX_MANAGERS = new Set(['redis', 'mariadb', 'postgresql'])

/**
 * Refuses a create the lab's sandboxes cannot run yet (a datastore), and a replica of an instance without a
 * sandbox (an earlier `none` run's, on a loopback address no sandbox reaches).
 */
export function refuseNewInSandbox(lab: Lab, o: { manager?: string; replicaOf?: string }): void {
  if (lab.compute.isolation !== 'sandbox') return
  const tail = 'this lab gives every new instance a sandbox (trove server --isolation sandbox, docs/isolation.md)'
  if (o.manager !== undefined && !SANDBOX_MANAGERS.has(o.manager)) throw badRequest(`Datastore '${o.manager}' does not run in a sandbox yet (only ${[...SANDBOX_MANAGERS].join(', ')}): ${tail}.`)
  if (o.replicaOf !== undefined && lab.compute.isolationOf(o.replicaOf) !== 'sandbox')
    throw badRequest(`Cannot create a replica of instance ${o.replicaOf}: it runs without a sandbox (isolation none, on a loopback address no sandbox reaches) and ${tail}.`)
}
