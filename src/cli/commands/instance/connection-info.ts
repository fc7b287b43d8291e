import type { Instance } from '../../../sdk/index.js'
import { CliError } from '../../errors.js'

/** How to reach one engine with its own client. */
interface EngineClient {
  /** The client program (the first one found on PATH is used). */
  programs: string[]
  port: number
  scheme: string
  /** The environment variable the client reads a password from (never a command-line argument: it would show in `ps`). */
  passwordEnv: string
  /** The database when none is given (psql needs one). */
  defaultDatabase?: string
  args(host: string, port: number, user: string, database: string | undefined, prompt: boolean): string[]
}

const MYSQL: EngineClient = {
  programs: ['mariadb', 'mysql'],
  port: 3306,
  scheme: 'mysql',
  passwordEnv: 'MYSQL_PWD',
  // -p without a value: the client asks for the password on the terminal.
  args: (h, p, u, d, prompt) => ['-h', h, '-P', String(p), '-u', u, ...(prompt ? ['-p'] : []), ...(d ? [d] : [])],
}

const ENGINES: Record<string, EngineClient> = {
  mariadb: MYSQL,
  mysql: MYSQL,
  postgresql: {
    programs: ['psql'],
    port: 5432,
    scheme: 'postgresql',
    passwordEnv: 'PGPASSWORD',
    defaultDatabase: 'postgres',
    // psql asks for the password itself when the server wants one and stdin is a terminal.
    args: (h, p, u, d) => ['-h', h, '-p', String(p), '-U', u, '-d', d ?? 'postgres'],
  },
  redis: {
    programs: ['redis-cli'],
    port: 6379,
    scheme: 'redis',
    passwordEnv: 'REDISCLI_AUTH',
    // root is an ACL user, not requirepass: `redis-cli -a PW` alone authenticates as `default` (WRONGPASS).
    args: (h, p, u, d, prompt) => ['-h', h, '-p', String(p), '--user', u, ...(prompt ? ['--askpass'] : []), ...(d ? ['-n', d] : [])],
  },
}

/** Everything needed to connect to an instance: for `instance connection` and `instance connect`. */
export interface ConnectionInfo {
  datastore: string
  host: string
  port: number
  user: string
  database: string | undefined
  url: string
  passwordEnv: string
  programs: string[]
  /** The client's arguments; `prompt` adds the flag that makes it ask for the password. */
  args(prompt: boolean): string[]
}

/** The connection of an instance, or a one-line error saying why there is none. */
export function connectionInfo(i: Instance, o: { user?: string; database?: string }): ConnectionInfo {
  const type = i.datastore?.type ?? ''
  const engine = ENGINES[type]
  if (!engine) throw new CliError(`no client known for datastore '${type}' of instance ${i.name} (known: ${Object.keys(ENGINES).join(', ')})`)
  const host = i.ip?.[0] ?? i.addresses?.[0]?.address ?? i.hostname
  if (!host) throw new CliError(`instance ${i.name} has no address yet (status ${i.status})`, undefined, `wait for it: trove instance show ${i.name} -c status`)
  const user = o.user ?? 'root'
  if (type === 'redis' && o.database !== undefined && !/^\d+$/.test(o.database)) {
    throw new CliError(`--database: a redis database is a number (0-15), not '${o.database}'`, 2)
  }
  const database = o.database ?? engine.defaultDatabase
  const hostPart = host.includes(':') ? `[${host}]` : host
  const url = `${engine.scheme}://${encodeURIComponent(user)}@${hostPart}:${engine.port}/${database !== undefined ? encodeURIComponent(database) : type === 'redis' ? '0' : ''}`
  return {
    datastore: type,
    host,
    port: engine.port,
    user,
    database,
    url,
    passwordEnv: engine.passwordEnv,
    programs: engine.programs,
    args: (prompt) => engine.args(host, engine.port, user, database, prompt),
  }
}
