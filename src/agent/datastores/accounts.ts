import { randomInt } from 'node:crypto'

/**
 * Databases, users and root of one engine (internals.md 2 and 4.1-4.3): what the
 * guest RPCs create_database ... is_root_enabled act on. Payloads use plain keys
 * (name, host, password, databases, character_set, collate), not upstream's
 * serialized models (_name, _host, ...): both ends are ours.
 */
export interface DatabaseSpec {
  name: string
  character_set?: string
  collate?: string
}

export interface UserSpec {
  name: string
  host?: string
  password: string
  databases?: Array<{ name: string }>
}

export interface UserView {
  name: string
  host: string
  databases: Array<{ name: string }>
}

export interface UserAttributes {
  name?: string
  host?: string
  password?: string
}

/** A page: the items and the marker of the next page (null on the last page), as upstream returns it. */
export type Page<T> = [T[], string | null]

export interface Accounts {
  createDatabases(dbs: DatabaseSpec[]): Promise<void>
  deleteDatabase(name: string): Promise<void>
  listDatabases(): Promise<Array<{ name: string }>>
  createUsers(users: UserSpec[]): Promise<void>
  deleteUser(name: string, host: string): Promise<void>
  /** Every visible user with its databases. */
  listUsers(): Promise<UserView[]>
  getUser(name: string, host: string): Promise<UserView | null>
  updateAttributes(name: string, host: string, attrs: UserAttributes): Promise<void>
  changePasswords(users: Array<{ name: string; host?: string; password: string }>): Promise<void>
  grantAccess(name: string, host: string, databases: string[]): Promise<void>
  revokeAccess(name: string, host: string, database: string): Promise<void>
  listAccess(name: string, host: string): Promise<Array<{ name: string }>>
  /** Enables root with `password` or a generated one; returns the root user as upstream does. */
  enableRoot(password?: string): Promise<{ name: string; password: string }>
  disableRoot(): Promise<void>
  isRootEnabled(): Promise<boolean>
}

/** An operation the engine does not have (Redis users/databases); the RPC reply's type is NotSupported. */
export class NotSupportedError extends Error {
  readonly rpcType = 'NotSupported'
}

/** A caller mistake (bad or reserved name, missing user): the RPC reply's type is BadRequest / NotFound. */
export class AccountError extends Error {
  constructor(
    readonly rpcType: 'BadRequest' | 'NotFound',
    message: string,
  ) {
    super(message)
  }
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** Upstream's generated root password: 36 random letters and digits. */
export function generatePassword(length = 36): string {
  let s = ''
  for (let i = 0; i < length; i++) s += ALNUM[randomInt(ALNUM.length)]
  return s
}

/**
 * Marker paging as the guest does it (internals.md 2): sorted by key, items after the
 * marker (from it with includeMarker), at most `limit`; the next marker is the last
 * item's key when more follow.
 */
export function pageOf<T>(items: T[], key: (t: T) => string, limit: unknown, marker: unknown, includeMarker: unknown): Page<T> {
  const sorted = [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0))
  const m = typeof marker === 'string' && marker !== '' ? marker : undefined
  const from = m === undefined ? sorted : sorted.filter((x) => (includeMarker === true ? key(x) >= m : key(x) > m))
  const n = typeof limit === 'number' && Number.isInteger(limit) && limit > 0 ? limit : from.length
  const page = from.slice(0, n)
  return [page, from.length > n && page.length > 0 ? key(page[page.length - 1]!) : null]
}

/**
 * Control characters (C0, DEL and C1) in names and hosts are refused. They once broke
 * the line/tab-separated output of the engines' clients (a name with a tab was listed
 * truncated and could not be deleted); the drivers return fields whole now, but such a
 * name would still be unreadable in upstream's tools and the engines' logs.
 */
export const CONTROL_CHARS = /\p{Cc}/u

/**
 * The create-time databases, users (granted their databases) and root password, applied
 * before prepare reports HEALTHY. A restored backup may already hold some of them: a
 * database that exists is kept as it is, a user that exists gets the request's password
 * and its databases granted (what upstream's GRANT ... IDENTIFIED BY did), so the request
 * describes the instance it gets instead of failing on "database exists".
 */
export async function applyPreparePayload(a: Accounts, payload: { databases?: DatabaseSpec[]; users?: UserSpec[]; rootPassword?: string }): Promise<void> {
  const dbs = payload.databases ?? []
  const have = new Set(dbs.length ? (await a.listDatabases()).map((d) => d.name) : [])
  await a.createDatabases(dbs.filter((d) => !have.has(d.name)))
  const fresh: UserSpec[] = []
  for (const u of payload.users ?? []) {
    const host = u.host ?? '%'
    if (!(await a.getUser(u.name, host))) {
      fresh.push(u)
      continue
    }
    await a.changePasswords([{ name: u.name, host, password: u.password }])
    if (u.databases?.length)
      await a.grantAccess(
        u.name,
        host,
        u.databases.map((d) => d.name),
      )
  }
  await a.createUsers(fresh)
  if (payload.rootPassword) await a.enableRoot(payload.rootPassword)
}
