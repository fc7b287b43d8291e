// The real side of the model-based test (test/e2e/model.ts): one in-process lab with real
// agents and engines, its demo user's SDK client, and rows read and written with the
// engines' own clients. Everything is asynchronous: the server runs in this process, so a
// spawnSync would stall it.
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Test } from 'tap'
import { type TroveClient, NotFoundError, type Instance } from '../../src/sdk/index.js'
import { processesUnder } from '../../src/server/compute/processes.js'
import { labClient, startLab, type InProcessLab } from './lab.js'
import { guestDir } from './guest.js'

export type Engine = 'mariadb' | 'postgresql' | 'redis'
export const PASSWORD = 'Pw-one-1'
const PSQL = '/usr/lib/postgresql/15/bin/psql'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/** Statuses a flow passes through; anything else is where it ended. */
const MOVING = new Set(['BUILD', 'BACKUP', 'PROMOTE', 'EJECT', 'DETACH', 'RESIZE', 'REBOOT', 'UPGRADE', 'SHUTDOWN', 'NEW', 'BUILDING', 'SAVING'])

export interface System {
  lab: InProcessLab
  client: TroveClient
  instanceDir(id: string): string
}

/** A lab with room for three engines' instances at once and no rate limits. */
export async function startSystem(t: Test): Promise<System> {
  const lab = await startLab(t, { quotaDefaults: { instances: 40, ram: -1, backups: 200, volumes: 200 }, rateLimits: [] })
  const client = labClient(lab.cloudsFile, { timeoutMs: 60_000 })
  return { lab, client, instanceDir: (id) => join(lab.dataDir, 'instances', id) }
}

function run(file: string, args: string[], input: string, env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    child.stdout.on('data', (b) => (out += b))
    child.stderr.on('data', (b) => (err += b))
    child.stdin.on('error', () => undefined)
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? -1, out: out.trim(), err: err.trim() })
    })
    child.stdin.end(input)
  })
}

/** SQL as u1 in d1 over TCP (MariaDB, PostgreSQL), or Redis commands as the agent over its socket. */
export async function engineRun(sys: System, engine: Engine, inst: Instance, input: string): Promise<string> {
  const ip = inst.ip?.[0] ?? ''
  const r =
    engine === 'mariadb'
      ? await run('mariadb', ['--no-defaults', '-h', ip, '-P', '3306', '-u', 'u1', '-N', '-B', 'd1'], input, { MYSQL_PWD: PASSWORD })
      : engine === 'postgresql'
        ? await run(PSQL, ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', ip, '-p', '5432', '-U', 'u1', '-d', 'd1'], input, { PGPASSWORD: PASSWORD, PGCONNECT_TIMEOUT: '5' })
        : await run('redis-cli', ['-s', join(guestDir(sys.lab.dataDir, inst.id), 'run/redis.sock')], input + '\n', {
            REDISCLI_AUTH: readFileSync(join(guestDir(sys.lab.dataDir, inst.id), 'conf/admin.secret'), 'utf8').trim(),
          })
  if (r.code !== 0 || /^(ERR|READONLY|ERROR)/m.test(r.out + '\n' + r.err)) throw new Error(`${engine} client on ${inst.name}: ${r.err || r.out}`)
  return r.out
}

export const createTable = (sys: System, engine: Engine, inst: Instance) => (engine === 'redis' ? Promise.resolve('') : engineRun(sys, engine, inst, 'CREATE TABLE t (id int primary key);'))

export const writeRow = (sys: System, engine: Engine, inst: Instance, n: number) => engineRun(sys, engine, inst, engine === 'redis' ? `SET k${n} v${n}` : `INSERT INTO t VALUES (${n});`)

/** The rows (Redis keys) an instance holds, sorted. */
export async function readRows(sys: System, engine: Engine, inst: Instance): Promise<number[]> {
  const out = await engineRun(sys, engine, inst, engine === 'redis' ? 'KEYS k*' : 'SELECT id FROM t ORDER BY id;')
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => Number(l.replace(/^k/, '')))
    .sort((a, b) => a - b)
}

/** Polls until the instance leaves the statuses of a running flow; its last view. */
export async function settle(sys: System, id: string, ms = 300_000): Promise<Instance> {
  const deadline = Date.now() + ms
  for (;;) {
    const inst = await sys.client.instances.get(id)
    if (!MOVING.has(inst.status) || Date.now() > deadline) return inst
    await sleep(300)
  }
}

/** Polls a backup to COMPLETED or FAILED. */
export async function settleBackup(sys: System, id: string, ms = 300_000): Promise<string> {
  const deadline = Date.now() + ms
  for (;;) {
    const b = await sys.client.backups.get(id)
    if (!MOVING.has(b.status) || Date.now() > deadline) return b.status
    await sleep(300)
  }
}

/** Deletes an instance and waits until the API no longer knows it. */
export async function deleteAndWait(sys: System, id: string, ms = 180_000): Promise<void> {
  await sys.client.instances.delete(id)
  const deadline = Date.now() + ms
  for (;;) {
    try {
      await sys.client.instances.get(id)
    } catch (e) {
      if (e instanceof NotFoundError) return
      throw e
    }
    if (Date.now() > deadline) throw new Error(`instance ${id} is still there ${ms / 1000} s after its delete`)
    await sleep(300)
  }
}

/** Processes still running from a deleted instance's directory (agent, engine, tools). */
export function orphans(sys: System, id: string): number[] {
  return processesUnder(sys.instanceDir(id))
}

/** A deleted instance's directory is gone too. */
export const leftDir = (sys: System, id: string): boolean => existsSync(sys.instanceDir(id))

/** Polls `probe` until it holds or `ms` pass; the last result. */
export async function until<T>(probe: () => Promise<T>, ok: (v: T) => boolean, ms: number): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await probe().catch((e: Error) => e as unknown as T)
    if (ok(v) || Date.now() > deadline) return v
    await sleep(250)
  }
}
