import type { RpcArgs, RpcMethod, RpcResult } from '../../protocol/index.js'
import { GuestError, RPC_TIMEOUT } from '../broker/rpc.js'
import type { InstanceJoined } from '../db/instances.js'
import type { Lab } from '../lab.js'
import { agentReachable } from '../tasks/agent-health.js'
import { Fault, badRequest, notFound, unprocessable } from '../errors.js'
import { guestFault } from './guest.js'
import { loadInstance, type Requester } from './load.js'
import { instanceStatus } from './status.js'

/** Datastores with databases and users (api.md 6.8/6.9). */
export const ACCOUNT_MANAGERS = new Set(['mysql', 'mariadb', 'postgresql'])
/** Datastores with a root controller (api.md 6.11): Redis has one too. */
export const ROOT_MANAGERS = new Set(['mysql', 'mariadb', 'postgresql', 'redis'])
/** Guest service statuses in which the engine serves sessions (upstream's is_datastore_running). */
const RUNNING = new Set(['healthy', 'running', 'restart required'])

/**
 * The caller's instance for a databases/users/root route: 404 when it is not theirs,
 * 422 when its datastore has no such thing or its engine is not running (upstream's
 * load_and_verify).
 */
export function accountsInstance(lab: Lab, who: Requester, id: string, managers = ACCOUNT_MANAGERS): InstanceJoined {
  const inst = loadInstance(lab, who, id)
  const manager = inst.dsv_manager ?? 'unknown'
  if (!managers.has(manager)) throw unprocessable(`Operation not supported for datastore ${manager}.`)
  const status = instanceStatus(inst)
  if (!['ACTIVE', 'RESTART_REQUIRED'].includes(status) || !RUNNING.has(inst.status_description ?? '') || !agentReachable(lab, id))
    throw unprocessable(`Instance ${id} is not ready, status: ${status === 'ACTIVE' ? (inst.status_description ?? 'unknown') : status}.`)
  return inst
}

/**
 * A synchronous account RPC. The guest types its refusals: BadRequest (400, its own
 * upstream message), NotFound (404), NotSupported (501, upstream's
 * DatastoreOperationNotSupported); anything else is upstream's GuestError/GuestTimeout.
 */
export async function accountsCall<M extends RpcMethod>(lab: Lab, id: string, method: M, args: RpcArgs<M>, timeoutMs = RPC_TIMEOUT.low): Promise<RpcResult<M>> {
  try {
    return await lab.rpc.call(id, method, args, timeoutMs)
  } catch (e) {
    if (e instanceof GuestError && e.type === 'BadRequest') throw badRequest(e.message)
    if (e instanceof GuestError && e.type === 'NotFound') throw notFound(e.message)
    if (e instanceof GuestError && e.type === 'NotSupported') throw new Fault('notImplemented', e.message)
    throw guestFault(e)
  }
}

/** A user path id: `name` or `name@host`, split on the last `@`; no host is `%` (api.md 6.9). */
export function parseUserId(raw: string): { name: string; host: string } {
  const at = raw.lastIndexOf('@')
  return at < 0 ? { name: raw, host: '%' } : { name: raw.slice(0, at), host: raw.slice(at + 1) || '%' }
}

// Name rules, checked before the guest is asked (the guest checks them again): upstream
// validates in the API (populate_databases/populate_users) so bad names never reach it.
// Upstream's `\s` between words let a tab or newline in (then listed truncated, impossible
// to delete): only spaces here. CONTROL: C0, DEL and C1 controls.
const MYSQL_DB = /^[A-Za-z0-9_-]+(?:[ ?#@]*[A-Za-z0-9_-]+)?$/
const MYSQL_USER_BAD = /^\s|\s$|'|"|;|`|,|\/|\\/
const CONTROL = /\p{Cc}/u
const HIDDEN_DBS: Record<string, string[]> = {
  mysql: ['mysql', 'information_schema', 'performance_schema', 'sys', 'lost+found'],
  postgresql: ['postgres', 'template0', 'template1'],
}
/** Accounts of the engine and of the agent (the MariaDB archiver's and point-in-time replay's, agent/datastores/mariadb/users.ts). */
const HIDDEN_USERS: Record<string, string[]> = { mysql: ['os_admin', 'root', 'mariadb.sys', 'PUBLIC', 'trove_archiver', 'trove_pitr'], postgresql: ['os_admin', 'postgres', 'root'] }
const family = (manager: string): 'mysql' | 'postgresql' => (manager === 'postgresql' ? 'postgresql' : 'mysql')

export function checkDatabaseName(manager: string, name: string): void {
  const f = family(manager)
  const ok = f === 'mysql' ? MYSQL_DB.test(name) : name !== '' && !CONTROL.test(name) && !/^\s|\s$/.test(name)
  if (!ok) throw badRequest(`'${name}' is not a valid schema name.`)
  const max = f === 'mysql' ? 64 : 63
  if (Buffer.byteLength(name) > max) throw badRequest(`Schema name '${name}' is too long. Max length = ${max}.`)
  if (HIDDEN_DBS[f]!.includes(f === 'mysql' ? name.toLowerCase() : name)) throw badRequest(`'${name}' is a reserved database name.`)
}

export function checkUserName(manager: string, name: string, host?: string): void {
  const f = family(manager)
  const ok = f === 'mysql' ? name !== '' && !MYSQL_USER_BAD.test(name) && !CONTROL.test(name) : name !== '' && !CONTROL.test(name) && !/^\s|\s$/.test(name)
  if (!ok) throw badRequest(`'${name}' is not a valid user name.`)
  const max = f === 'mysql' ? 80 : 63
  if (Buffer.byteLength(name) > max) throw badRequest(`User name '${name}' is too long. Max length = ${max}.`)
  if (HIDDEN_USERS[f]!.includes(name) || (f === 'postgresql' && name.startsWith('pg_'))) throw badRequest(`'${name}' is a reserved user name.`)
  if (f === 'mysql' && host !== undefined && (host === '' || host === 'localhost' || MYSQL_USER_BAD.test(host) || CONTROL.test(host))) throw badRequest(`'${host}' is not a valid hostname.`)
}

/**
 * The create body's databases and users (api.md 6.2), checked like the routes check
 * them: a bad name fails the request instead of the instance's prepare.
 */
export function checkCreatePayload(manager: string, databases: Array<{ name: string }> = [], users: Array<{ name: string; host?: string }> = []): void {
  // Redis ignores them (its guest has none), as the legacy Redis guest did.
  if (!ACCOUNT_MANAGERS.has(manager)) return
  const dbs = new Set<string>()
  for (const d of databases) {
    checkDatabaseName(manager, d.name)
    if (dbs.has(d.name)) throw badRequest('Two or more databases have the same name.')
    dbs.add(d.name)
  }
  const seen = new Set<string>()
  for (const u of users) {
    checkUserName(manager, u.name, u.host)
    const key = `${u.name}@${u.host ?? '%'}`
    if (seen.has(key)) throw badRequest('Two or more users have the same name and host.')
    seen.add(key)
  }
}
