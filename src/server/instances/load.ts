import type { InstanceJoined } from '../db/instances.js'
import type { Lab } from '../lab.js'
import { resourceNotFound } from '../errors.js'

/** Who asks: the caller's project and whether it is an admin (http/guard.ts's caller gives it). */
export interface Requester {
  projectId: string
  isAdmin: boolean
}

/** The instance of `id` visible to the requester: its own project's, or any for an admin (upstream); else 404. */
export function loadInstance(lab: Lab, who: Requester, id: string): InstanceJoined {
  const inst = lab.instances.get(id)
  if (!inst || (inst.tenant_id !== who.projectId && !who.isAdmin)) throw resourceNotFound(id)
  return inst
}
