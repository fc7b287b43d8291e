import { badRequest } from '../errors.js'
import type { Lab } from '../lab.js'

/**
 * What an instance in a sandbox (docs/isolation.md) cannot do yet, refused before anything starts
 * (400, the reason named) rather than half-run: resizes (its volume and runc limits are fixed at create until the driver
 * grows and updates them). Backups, restores and log publishing stream through the server's object store
 * (object-store/endpoint.ts) and are not refused.
 */
export const SANDBOX_MANAGERS = new Set(['redis', 'mariadb', 'postgresql'])

const WHY = 'it runs in a sandbox (isolation sandbox, docs/isolation.md)'

/** Refuses `what` for a sandboxed instance (`because`: what the sandbox lacks for it). */
export function refuseInSandbox(lab: Lab, instanceId: string, what: string, because: string): void {
  if (lab.compute.isolationOf(instanceId) === 'sandbox') throw badRequest(`${what} of instance ${instanceId} is not supported yet: ${WHY}, ${because}.`)
}

/**
 * Refuses a create the lab's sandboxes cannot run yet (a datastore, a restore to a point in time), and a
 * replica of an instance without a sandbox (an earlier `none` run's, on a loopback address no sandbox reaches).
 */
export function refuseNewInSandbox(lab: Lab, o: { manager?: string; replicaOf?: string; pitr?: boolean }): void {
  if (lab.compute.isolation !== 'sandbox') return
  const tail = 'this lab gives every new instance a sandbox (trove server --isolation sandbox, docs/isolation.md)'
  if (o.manager !== undefined && !SANDBOX_MANAGERS.has(o.manager)) throw badRequest(`Datastore '${o.manager}' does not run in a sandbox yet (only ${[...SANDBOX_MANAGERS].join(', ')}): ${tail}.`)
  if (o.replicaOf !== undefined && lab.compute.isolationOf(o.replicaOf) !== 'sandbox')
    throw badRequest(`Cannot create a replica of instance ${o.replicaOf}: it runs without a sandbox (isolation none, on a loopback address no sandbox reaches) and ${tail}.`)
  if (o.pitr) throw badRequest(`Restoring to a point in time is not supported yet: the object store does not serve a source's log archive to a sandboxed agent; ${tail}.`)
}
