import type { RpcArgs, RpcMethod, RpcMethodWithoutArgs, RpcResult } from '../../protocol/index.js'
import { GuestError, GuestTimeout, RPC_TIMEOUT } from '../broker/rpc.js'
import type { Lab } from '../lab.js'
import { agentReachable } from '../tasks/agent-health.js'
import { Fault, badRequest, notFound } from '../errors.js'

/** Upstream's GuestError / GuestTimeout, both 400 (api.md 2). */
export function guestFault(e: unknown): Fault {
  if (e instanceof Fault) return e
  const fault =
    e instanceof GuestTimeout
      ? badRequest('Timeout trying to connect to the Guest Agent.')
      : badRequest(`An error occurred communicating with the guest: ${(e instanceof Error ? e.message : String(e)).replace(/\.$/, '')}.`)
  // The guest refusing bad input (a BadRequest reply) is the client's mistake; anything
  // else is a failure of the instance (recorded as its fault by the notifications).
  if (!(e instanceof GuestError && e.type === 'BadRequest')) fault.guestFailure = true
  return fault
}

/** An agent known to be down: upstream's GuestError, at once instead of after the whole timeout. */
function agentDown(id: string): Fault {
  return guestFault(new GuestError('GuestError', `the guest agent of instance ${id} is not running`))
}

/**
 * A synchronous guest call made for an API request. An agent known to be down fails at
 * once instead of after the whole timeout (upstream waits it out).
 */
export async function guestCall<M extends RpcMethodWithoutArgs>(lab: Lab, id: string, method: M, timeoutMs = RPC_TIMEOUT.low): Promise<RpcResult<M>> {
  if (!agentReachable(lab, id)) throw agentDown(id)
  try {
    return await lab.rpc.call(id, method, {} as RpcArgs<M>, timeoutMs)
  } catch (e) {
    throw guestFault(e)
  }
}

/**
 * A guest call with arguments and the guest's typed refusals: BadRequest and Forbidden
 * (a log not exposed to non-admins: upstream's GuestError) are 400, NotFound 404,
 * NotSupported 501; anything else, and an agent known to be down, is upstream's
 * GuestError/GuestTimeout (400).
 */
export async function guestCallWith<M extends RpcMethod>(lab: Lab, id: string, method: M, args: RpcArgs<M>, timeoutMs = RPC_TIMEOUT.low): Promise<RpcResult<M>> {
  if (!agentReachable(lab, id)) throw agentDown(id)
  try {
    return await lab.rpc.call(id, method, args, timeoutMs)
  } catch (e) {
    if (e instanceof GuestError && (e.type === 'BadRequest' || e.type === 'Forbidden')) throw badRequest(e.message)
    if (e instanceof GuestError && e.type === 'NotFound') throw notFound(e.message)
    if (e instanceof GuestError && e.type === 'NotSupported') throw new Fault('notImplemented', e.message)
    throw guestFault(e)
  }
}
