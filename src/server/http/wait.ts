import type { FastifyReply } from 'fastify'
import type { InstanceJoined } from '../db/instances.js'
import type { Lab } from '../lab.js'
import { badRequest, resourceNotFound } from '../errors.js'
import { instanceStatus } from '../instances/status.js'

/**
 * Long poll of GET /instances/{id} (an extension of the API, README "API notes"): with
 * `?wait_for_change=STATUS` the answer waits until the instance's status is no longer
 * STATUS (or it is gone: 404), at most `wait_timeout` seconds (default 20, at most 25),
 * then is the usual instance body. Every answer of GET /instances/{id} carries
 * WAIT_HEADER (the longest wait accepted, in seconds): clients use the long poll only
 * where they saw it, and poll elsewhere (upstream Trove ignores the parameter).
 */
export const WAIT_HEADER = 'x-trove-wait-for-change'
export const MAX_WAIT_S = 25
const DEFAULT_WAIT_S = 20
/** A poll that nothing wakes re-reads the row this often (writes that do not notify). */
const RECHECK_MS = 1000

export async function waitForChange(lab: Lab, reply: FastifyReply, inst: InstanceJoined, q: { wait_for_change?: string; wait_timeout?: string }): Promise<InstanceJoined> {
  const from = q.wait_for_change
  if (!from) throw badRequest('wait_for_change needs the status last seen, e.g. wait_for_change=BUILD.')
  const seconds = q.wait_timeout === undefined ? DEFAULT_WAIT_S : Number(q.wait_timeout)
  if (q.wait_timeout === '' || !Number.isFinite(seconds) || seconds < 0 || seconds > MAX_WAIT_S) {
    throw badRequest(`Invalid wait_timeout '${q.wait_timeout}': a number of seconds from 0 to ${MAX_WAIT_S}.`)
  }
  const end = Date.now() + seconds * 1000
  // A client that hangs up stops the wait (its waiter must not linger until the timeout).
  const hungUp = new AbortController()
  const onClose = (): void => hungUp.abort()
  reply.raw.once('close', onClose)
  const changes = lab.instances.changes
  try {
    while (instanceStatus(inst) === from && !hungUp.signal.aborted && !changes.isClosed) {
      const left = end - Date.now()
      if (left <= 0) break
      await changes.next(inst.id, Math.min(left, RECHECK_MS), hungUp.signal)
      const now = lab.instances.get(inst.id)
      if (!now) throw resourceNotFound(inst.id)
      inst = now
    }
  } finally {
    reply.raw.off('close', onClose)
  }
  return inst
}
