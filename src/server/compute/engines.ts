import { execFile } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
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

/** What to install when an engine is missing (said in the create error); MySQL has no Debian package. */
export const INSTALL_HINT: Record<string, string> = {
  mariadb: 'apt-get install mariadb-server mariadb-backup',
  postgresql: 'apt-get install postgresql',
  redis: 'apt-get install redis-server',
}

/**
 * The 404 text for a datastore the lab does not have. A known engine that is not installed gets
 * what to install. `mysql` is special: Debian 12 has no MySQL server (its mysqld is MariaDB's), so
 * setup cannot install one; the lab offers MariaDB, which MySQL clients and drivers speak to.
 */
export function missingDatastoreMessage(name: string, available: readonly string[]): string {
  const base = `Datastore '${name}' cannot be found.`
  const key = name.toLowerCase()
  if (key === 'mysql') {
    const use = available.includes('mariadb') ? "use the 'mariadb' datastore (MySQL clients and drivers work with it), or install" : 'install'
    return `${base} This lab host has no MySQL server (Debian 12 has none; its mysqld is MariaDB): ${use} MySQL from Oracle's APT repository and restart 'trove server'.`
  }
  const hint = INSTALL_HINT[key]
  return hint ? `${base} Its engine is not installed on this lab host: run '${hint}' (or scripts/setup.sh) and restart 'trove server'.` : base
}

/** The version `re` finds in what `bin args` prints; rejects when the binary does not run or answer in time. */
async function versionIn(bin: string, args: string[], re: RegExp): Promise<string | undefined> {
  const { stdout } = await run(bin, args, { timeout: 10_000 })
  return re.exec(stdout)?.[1]
}

const PATH_DIRS = (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/usr/bin'])
function which(name: string): string | undefined {
  for (const d of PATH_DIRS) if (d && existsSync(join(d, name))) return join(d, name)
  return undefined
}

/** Where Debian's PostgreSQL packages put each major version (`<major>/bin`). */
const PG_ROOT = '/usr/lib/postgresql'

/** The engine binaries this host has now, each with what changes when it is replaced (an upgrade, a removal). */
function binariesSignature(): string {
  const pg = existsSync(PG_ROOT) ? readdirSync(PG_ROOT).flatMap((d) => [join(PG_ROOT, d, 'bin', 'postgres'), join(PG_ROOT, d, 'bin', 'initdb')]) : []
  return [which('mariadbd'), which('mysqld'), which('redis-server'), ...pg]
    .map((bin) => {
      if (!bin) return '-'
      try {
        const s = statSync(bin)
        return `${bin}:${s.ino}:${s.size}:${s.mtimeMs}`
      } catch {
        return `${bin}:-`
      }
    })
    .join('\n')
}

let probed: { signature: string; engines: Promise<DetectedEngine[]> } | undefined

/**
 * Reads the installed engines' versions from their binaries (in parallel), once per set of binaries in a
 * process: a process that builds several servers (an embedding program, the test suite: ~260 lab starts,
 * each ~5 `--version` runs) asks again only when a binary changed. A probe that failed (say, timed out on a
 * busy host) is not kept: the next server asks again rather than lacking that engine for good.
 */
export function detectEngines(): Promise<DetectedEngine[]> {
  const signature = binariesSignature()
  if (probed?.signature !== signature) {
    const probe = probeEngines()
    const entry = { signature, engines: probe.then((p) => p.engines) }
    probed = entry
    void probe.then((p) => {
      if (!p.complete && probed === entry) probed = undefined
    })
  }
  return probed.engines
}

/** The engines found, and whether every binary answered (`complete`: the answer may be kept). */
async function probeEngines(): Promise<{ engines: DetectedEngine[]; complete: boolean }> {
  let complete = true
  const versionOf = (bin: string, args: string[], re: RegExp) =>
    versionIn(bin, args, re).catch(() => {
      complete = false
      return undefined
    })
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
  if (existsSync(PG_ROOT)) {
    const majors = readdirSync(PG_ROOT).filter((d) => /^\d+$/.test(d) && existsSync(join(PG_ROOT, d, 'bin', 'postgres')) && existsSync(join(PG_ROOT, d, 'bin', 'initdb')))
    for (const major of majors) {
      const binDir = join(PG_ROOT, major, 'bin')
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
  const engines = (await Promise.all(found)).filter((e): e is DetectedEngine => e !== undefined)
  return { engines, complete }
}
