import { existsSync } from 'node:fs'
import { execFile, spawnSync } from 'node:child_process'
import { join } from 'node:path'

/**
 * The python `trove` client (python3-troveclient). scripts/setup.sh diverts Debian's
 * /usr/bin/trove to this path so that `trove` on PATH is this package's CLI; a host set
 * up before that still has it at /usr/bin/trove.
 */
export const PYTHON_TROVE_DIVERTED = '/usr/libexec/trove-lab/python-trove'
export const PYTHON_TROVE = existsSync(PYTHON_TROVE_DIVERTED) ? PYTHON_TROVE_DIVERTED : '/usr/bin/trove'

/** PostgreSQL 15's psql (Debian's path). */
export const PSQL = '/usr/lib/postgresql/15/bin/psql'

/**
 * SQL as the engine's superuser over the socket of the instance whose directory is `dir`: its output, or throws.
 * Values only, tab-separated; MariaDB with `named`: as the client prints it (`\G` then shows `Name: value` lines).
 */
export function superSql(engine: 'mariadb' | 'postgresql', dir: string, sql: string, named = false): Promise<string> {
  const [file, args] =
    engine === 'mariadb'
      ? ['mariadb', ['--no-defaults', '-S', join(dir, 'run/mysqld.sock'), '-u', 'root', ...(named ? [] : ['-N', '-B']), '-e', sql]]
      : [PSQL, ['-X', '-q', '-At', '-h', join(dir, 'run'), '-p', '5432', '-U', 'postgres', '-d', 'postgres', '-c', sql]]
  return new Promise<string>((resolve, reject) => {
    execFile(file, args, { encoding: 'utf8', timeout: 15_000 }, (err, out, stderr) => (err ? reject(new Error(`${sql}: ${stderr || err.message}`)) : resolve(out.trim())))
  })
}

/** Runs SQL (or redis commands) with the engine's own client over TCP, in database d1; stdout trimmed, throws on failure. */
export function engineClient(engine: string, ip: string, user: string, password: string, input: string): string {
  const r =
    engine === 'mariadb'
      ? spawnSync('mariadb', ['--no-defaults', '-h', ip, '-P', '3306', '-u', user, '-N', '-B', 'd1'], { input, env: { ...process.env, MYSQL_PWD: password } })
      : engine === 'postgresql'
        ? spawnSync(PSQL, ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', ip, '-p', '5432', '-U', user, '-d', 'd1'], {
            input,
            env: { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: '5' },
          })
        : spawnSync('redis-cli', ['-h', ip, '-p', '6379', '--user', user, '--no-auth-warning'], { input, env: { ...process.env, REDISCLI_AUTH: password } })
  if (r.status !== 0) throw new Error(`${engine} client failed: ${r.stderr.toString()}`)
  return r.stdout.toString().trim()
}

/** Rows of table t (keys k<N> for Redis) numbered from..to, through engineClient. */
export function writeRows(engine: string, ip: string, user: string, pw: string, from: number, to: number): void {
  if (engine === 'mariadb') engineClient(engine, ip, user, pw, `CREATE TABLE IF NOT EXISTS t (v int); INSERT INTO t SELECT seq FROM seq_${from}_to_${to};`)
  else if (engine === 'postgresql') engineClient(engine, ip, user, pw, `CREATE TABLE IF NOT EXISTS t (v int); INSERT INTO t SELECT generate_series(${from}, ${to});`)
  else engineClient(engine, ip, user, pw, Array.from({ length: to - from + 1 }, (_, i) => `SET k${from + i} v${from + i}`).join('\n') + '\n')
}
