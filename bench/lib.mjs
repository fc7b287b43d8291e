// Shared helpers of the benchmark scripts.
import { cpus, loadavg, totalmem } from 'node:os'
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
// The benchmarks' labs run `--isolation none` unless they ask for sandboxes (the sandbox benches pass `isolation:
// 'sandbox'` or `--isolation sandbox`) or TROVE_ISOLATION says otherwise: the product's default is sandbox since
// issue 14, and the figures of BENCHMARKS.md that are not about the sandbox were measured, and are compared, on none.
process.env.TROVE_ISOLATION ||= 'none'
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** The user the benchmarks run engines as by hand (the lab's run user). */
export const RUN_USER = 'troveguest'

/** `args` run as RUN_USER (setpriv, as trove runs its engines). */
export const asUser = (args) => ['setpriv', `--reuid=${RUN_USER}`, `--regid=${RUN_USER}`, '--init-groups', '--', ...args]

/** A free TCP port on 127.0.0.1 (bound to port 0, read, released). */
export function freePort() {
  return new Promise((resolve) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port
      s.close(() => resolve(p))
    })
  })
}

/** True when `cmd args` exits 0 (output captured, not shown). */
export function ok(cmd, args, opts = {}) {
  try {
    execFileSync(cmd, args, { stdio: 'pipe', ...opts })
    return true
  } catch {
    return false
  }
}

/**
 * Waits until `check()` (sync or async) is truthy, trying every `everyMs`; a throw counts as
 * not yet. Throws after `timeoutMs`, with the last error seen.
 */
export async function until(check, timeoutMs = 60_000, everyMs = 10) {
  const end = Date.now() + timeoutMs
  let last
  for (;;) {
    try {
      if (await check()) return
    } catch (e) {
      last = e
    }
    if (Date.now() > end) throw new Error(`timed out${last ? ` (${last.message})` : ''}: ${check.toString().slice(0, 120)}`)
    await sleep(everyMs)
  }
}

/** The newest installed PostgreSQL's bin directory. */
export const pgBin = () => execFileSync('sh', ['-c', 'ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1']).toString().trim()

/**
 * Starts postgres on `dataDir` (as RUN_USER, TCP on 127.0.0.1:port, its socket in `runDir`, the
 * agent's shared_buffers) and resolves when pg_isready answers (asked every `everyMs`): the engine's own start as the
 * create and wait benchmarks time it.
 */
export async function startPostgres(dataDir, runDir, port, everyMs = 5) {
  const bin = pgBin()
  const args = asUser([join(bin, 'postgres'), '-D', dataDir, '-c', `port=${port}`, '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${runDir}`, '-c', 'shared_buffers=51MB'])
  const p = spawn(args[0], args.slice(1), { stdio: 'ignore' })
  await until(() => ok(join(bin, 'pg_isready'), ['-q', '-h', runDir, '-p', String(port), '-U', 'postgres', '-d', 'postgres']), 60_000, everyMs)
  return p
}

/** An SDK client (dist/sdk: run after a build) for the demo user of a lab's clouds.yaml. */
export async function clientFor(cloudsFile) {
  const [{ TroveClient }, { parse }] = await Promise.all([import('../dist/sdk/index.js'), import('yaml')])
  const a = parse(readFileSync(cloudsFile, 'utf8')).clouds['trove-lab'].auth
  return new TroveClient({
    auth: {
      authType: 'password',
      authUrl: a.auth_url,
      username: a.username,
      password: a.password,
      projectName: a.project_name,
      userDomainName: 'Default',
      projectDomainName: 'Default',
      interface: 'public',
    },
  })
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

export function rssMb(pid) {
  const kb = Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0)
  return kb / 1024
}

/**
 * The machine, and how busy it was: the 5-minute load average when the figures were written
 * (the machine is shared; at a load above the core count every figure is stretched).
 */
export function machine() {
  const kernel = execFileSync('uname', ['-r']).toString().trim()
  return `${cpus().length} cores (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${kernel}, Node ${process.version}, load average ${loadavg()[1].toFixed(1)} (5 min)`
}

/** Replaces (or appends) the section `key` of BENCHMARKS.md. */
export function writeSection(key, title, body) {
  const file = join(ROOT, 'BENCHMARKS.md')
  let text = existsSync(file) ? readFileSync(file, 'utf8') : "# Benchmarks\n\nFigures measured on this project's machine by the scripts in bench/. Each section says the command that made it.\n"
  const start = `<!-- bench:${key}:start -->`
  const end = `<!-- bench:${key}:end -->`
  const block = `${start}\n## ${title}\n\n${body}\n${end}`
  const i = text.indexOf(start)
  const j = text.indexOf(end)
  text = i >= 0 && j > i ? text.slice(0, i) + block + text.slice(j + end.length) : `${text.trimEnd()}\n\n${block}\n`
  writeFileSync(file, text)
}
