import type { AccountRpc, RpcMethod, RpcResult, RpcUncheckedArgs } from '../../protocol/index.js'
import { AccountError, NotSupportedError, pageOf, type Accounts, type DatabaseSpec, type UserSpec } from '../datastores/accounts.js'
import { RpcFailure } from '../rpc-failure.js'
import type { Handler, Handlers } from './types.js'

const str = (v: unknown, what: string): string => {
  if (typeof v !== 'string') throw new RpcFailure('BadRequest', `${what} must be a string`)
  return v
}
const list = <T>(v: unknown, what: string): T[] => {
  if (!Array.isArray(v)) throw new RpcFailure('BadRequest', `${what} must be a list`)
  return v as T[]
}
const host = (v: unknown): string => (typeof v === 'string' && v !== '' ? v : '%')
/** `database` / `user` arguments may be a name or an object with one (upstream sends serialized models). */
const nameOf = (v: unknown, what: string): string => str(typeof v === 'object' && v !== null ? (v as { name?: unknown }).name : v, what)

/** One method's work on the engine's accounts. */
// biome-ignore lint/suspicious/noConfusingVoidType: many of the engine's operations return Promise<void>
type AccountOperation<M extends RpcMethod> = (a: Accounts, args: RpcUncheckedArgs<M>) => Promise<RpcResult<M> | void>

/**
 * The users/databases/root RPCs (internals.md 2, upstream names and arguments). Caller
 * mistakes come back typed (BadRequest, NotFound, NotSupported) so the API can answer
 * with the right status instead of a generic GuestError.
 */
export function accountMethods(accounts: () => Promise<Accounts>): Handlers<AccountRpc> {
  // The engine's void operations answer null, as upstream's do.
  const wrap =
    <M extends RpcMethod>(fn: AccountOperation<M>): Handler<M> =>
    async (args) => {
      try {
        const result = await fn(await accounts(), args)
        return (result === undefined ? null : result) as RpcResult<M>
      } catch (err) {
        if (err instanceof AccountError || err instanceof NotSupportedError) throw new RpcFailure(err.rpcType, err.message)
        throw err
      }
    }
  return {
    create_database: wrap((a, x) => a.createDatabases(list<DatabaseSpec>(x.databases, 'databases'))),
    delete_database: wrap((a, x) => a.deleteDatabase(nameOf(x.database, 'database'))),
    list_databases: wrap(async (a, x) => pageOf(await a.listDatabases(), (d) => d.name, x.limit, x.marker, x.include_marker)),
    create_user: wrap((a, x) => a.createUsers(list<UserSpec>(x.users, 'users'))),
    delete_user: wrap((a, x) => {
      const u = x.user as { name?: unknown; host?: unknown } | undefined
      return a.deleteUser(nameOf(u, 'user'), host(u?.host))
    }),
    list_users: wrap(async (a, x) => pageOf(await a.listUsers(), (u) => `${u.name}@${u.host}`, x.limit, x.marker, x.include_marker)),
    get_user: wrap((a, x) => a.getUser(str(x.username, 'username'), host(x.hostname))),
    update_attributes: wrap((a, x) => {
      const attrs = (x.user_attrs ?? {}) as { name?: string; host?: string; password?: string }
      return a.updateAttributes(str(x.username, 'username'), host(x.hostname), attrs)
    }),
    change_passwords: wrap((a, x) => a.changePasswords(list(x.users, 'users'))),
    grant_access: wrap((a, x) =>
      a.grantAccess(
        str(x.username, 'username'),
        host(x.hostname),
        list<unknown>(x.databases, 'databases').map((d) => nameOf(d, 'database')),
      ),
    ),
    revoke_access: wrap((a, x) => a.revokeAccess(str(x.username, 'username'), host(x.hostname), nameOf(x.database, 'database'))),
    list_access: wrap((a, x) => a.listAccess(str(x.username, 'username'), host(x.hostname))),
    enable_root: wrap((a) => a.enableRoot()),
    enable_root_with_password: wrap((a, x) => a.enableRoot(x.root_password === undefined || x.root_password === null ? undefined : str(x.root_password, 'root_password'))),
    disable_root: wrap((a) => a.disableRoot()),
    is_root_enabled: wrap((a) => a.isRootEnabled()),
  }
}
