import { RPC_TIMEOUT } from '../broker/rpc.js'
import type { Lab } from '../lab.js'
import { badRequest, notFound } from '../errors.js'
import { rootHistory } from '../db/root-history.js'
import { ROOT_MANAGERS, accountsCall, accountsInstance } from './accounts.js'
import { loadInstance, type Requester } from './load.js'

const nowIso = (): string => new Date().toISOString().slice(0, 19)

/**
 * Root of an instance (api.md 6.11). Whether it is enabled is answered from the root
 * history as upstream does (true once enabled through the API, until disabled), not
 * from the guest.
 */
export function rootEnabled(lab: Lab, who: Requester, id: string): boolean {
  loadInstance(lab, who, id)
  return rootHistory(lab.db).enabled(id)
}

/** Enables root (with the body's password, or a generated one) and records who did. */
export async function enableRoot(lab: Lab, who: Requester, id: string, userId: string, password: unknown): Promise<{ name: string; password: string }> {
  accountsInstance(lab, who, id, ROOT_MANAGERS)
  if (password !== undefined && password !== null && (typeof password !== 'string' || password === '')) throw badRequest('Validation error: password must be a non-empty string')
  const user =
    typeof password === 'string'
      ? await accountsCall(lab, id, 'enable_root_with_password', { root_password: password }, RPC_TIMEOUT.high)
      : await accountsCall(lab, id, 'enable_root', {}, RPC_TIMEOUT.high)
  rootHistory(lab.db).enable(id, userId, nowIso())
  return user
}

/** Disables root: 404 when it was never enabled through the API. */
export async function disableRoot(lab: Lab, who: Requester, id: string): Promise<void> {
  accountsInstance(lab, who, id, ROOT_MANAGERS)
  const history = rootHistory(lab.db)
  if (!history.everEnabled(id)) throw notFound('Root user has never been enabled on the instance.')
  await accountsCall(lab, id, 'disable_root', {}, RPC_TIMEOUT.low)
  history.disable(id, nowIso())
}
