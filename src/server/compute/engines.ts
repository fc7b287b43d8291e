import { execFile } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { EngineManager } from '../../protocol/index.js'

const run = promisify(execFile)

/** An engine found on this host, ready to be offered as a datastore version. */
export interface DetectedEngine {
  datastore: string
  manager: EngineManager
  /** Version name users pick: major.minor for MariaDB/MySQL/Redis, major for PostgreSQL. */
  name: string
  /** Full version number read from the binary. */
  version: string
  binDir?: string
  packages: string
}

/** What to install when an engine is missing (said in the create error). */
export const INSTALL_HINT: Record<string, string> = {
  mariadb: 'apt-get install mariadb-server mariadb-backup',
  postgresql: 'apt-get install postgresql',
  redis: 'apt-get install redis-server',
  mysql: 'install a MySQL server package (mysql-server) from a MySQL APT repository',
}

async function versionOf(bin: string, args: string[], re: RegExp): Promise<string | undefined> {
  try {
    const { stdout } = await run(bin, args, { timeout: 10_000 })
    return re.exec(stdout)?.[1]
  } catch {
    return undefined
  }
}

const PATH_DIRS = (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/usr/bin'])
function which(name: string): string | undefined {
  for (const d of PATH_DIRS) if (d && existsSync(join(d, name))) return join(d, name)
  return undefined
}

/** Reads the installed engines' versions from their binaries (in parallel). */
export async function detectEngines(): Promise<DetectedEngine[]> {
  const found: Array<Promise<DetectedEngine | undefined>> = []
  const mariadbd = which('mariadbd')
  if (mariadbd) {
    found.push(
      versionOf(mariadbd, ['--version'], /Ver\s+(\d+\.\d+\.\d+)-MariaDB/).then((v) =>
        v ? { datastore: 'mariadb', manager: 'mariadb' as const, name: v.split('.').slice(0, 2).join('.'), version: v, packages: 'mariadb-server,mariadb-backup' } : undefined,
      ),
    )
  }
  // `mysql` only for a real MySQL server: on Debian mysqld is usually MariaDB's symlink.
  const mysqld = which('mysqld')
  if (mysqld) {
    found.push(
      versionOf(mysqld, ['--version'], /Ver\s+(\d+\.\d+\.\d+)(?![-\w.]*MariaDB)/).then(async (v) => {
        if (!v) return undefined
        const text = await versionOf(mysqld, ['--version'], /(.*)/)
        return text && !/mariadb/i.test(text) ? { datastore: 'mysql', manager: 'mysql' as const, name: v.split('.').slice(0, 2).join('.'), version: v, packages: 'mysql-server' } : undefined
      }),
    )
  }
  const pgRoot = '/usr/lib/postgresql'
  if (existsSync(pgRoot)) {
    const majors = readdirSync(pgRoot).filter((d) => /^\d+$/.test(d) && existsSync(join(pgRoot, d, 'bin', 'postgres')) && existsSync(join(pgRoot, d, 'bin', 'initdb')))
    for (const major of majors) {
      const binDir = join(pgRoot, major, 'bin')
      found.push(
        versionOf(join(binDir, 'postgres'), ['--version'], /PostgreSQL\)\s+(\d+(?:\.\d+)?)/).then((v) =>
          v ? { datastore: 'postgresql', manager: 'postgresql' as const, name: major, version: v, binDir, packages: `postgresql-${major}` } : undefined,
        ),
      )
    }
  }
  const redis = which('redis-server')
  if (redis) {
    found.push(
      versionOf(redis, ['--version'], /v=(\d+\.\d+\.\d+)/).then((v) =>
        v ? { datastore: 'redis', manager: 'redis' as const, name: v.split('.').slice(0, 2).join('.'), version: v, packages: 'redis-server' } : undefined,
      ),
    )
  }
  return (await Promise.all(found)).filter((e): e is DetectedEngine => e !== undefined)
}
