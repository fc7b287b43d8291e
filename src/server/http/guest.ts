import type { RpcArgs, RpcMethodWithoutArgs, RpcResult } from '../../protocol/index.js'
import { GuestError, GuestTimeout, RPC_TIMEOUT } from '../broker/rpc.js'
import type { Lab } from '../lab.js'
import { agentReachable } from '../tasks/agent-health.js'
import { Fault, badRequest } from '../errors.js'

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

/**
 * A synchronous guest call made by an API route. An agent known to be down fails at
 * once instead of after the whole timeout (upstream waits it out).
 */
export async function guestCall<M extends RpcMethodWithoutArgs>(lab: Lab, id: string, method: M, timeoutMs = RPC_TIMEOUT.low): Promise<RpcResult<M>> {
  if (!agentReachable(lab, id)) throw guestFault(new GuestError('GuestError', `the guest agent of instance ${id} is not running`))
  try {
    return await lab.rpc.call(id, method, {} as RpcArgs<M>, timeoutMs)
  } catch (e) {
    throw guestFault(e)
  }
}
