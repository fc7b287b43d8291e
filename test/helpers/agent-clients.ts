// What the agent e2e files share on top of the harness: agents started in this process for the
// harness's instances (stopped, engines killed, at teardown), RPCs that must succeed, and a
// statement as a user over TCP with the engine's own client, as a user would log in.
import { spawnSync } from 'node:child_process'
import type { AgentBootstrap, EngineManager } from '../../src/protocol/index.js'
import { startAgent, type AgentHandle } from '../../src/agent/index.js'
import type { Instance, startAgentHarness } from './agent-harness.js'

const PSQL = '/usr/lib/postgresql/15/bin/psql'

/** A statement as `user` in database `db` over TCP (the password in the environment, never in argv). */
export function engineSql(inst: Instance, user: string, password: string, db: string, statement: string): { ok: boolean; out: string } {
  const b = inst.bootstrap
  const r =
    b.datastore.manager === 'mariadb'
      ? spawnSync('mariadb', ['--no-defaults', '-h', b.address, '-P', String(b.port), '-u', user, '-N', '-B', '-D', db], {
          input: statement,
          encoding: 'utf8',
          env: { ...process.env, MYSQL_PWD: password },
        })
      : spawnSync(PSQL, ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', b.address, '-p', String(b.port), '-U', user, '-d', `dbname='${db.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`], {
          input: statement,
          encoding: 'utf8',
          env: { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: '5' },
        })
  return { ok: r.status === 0, out: (r.stdout + r.stderr).trim() }
}

type Harness = Awaited<ReturnType<typeof startAgentHarness>>

/** `launch` starts an agent in this process for a new instance and waits for HEALTHY; `ok` is an RPC that must succeed. */
export function inProcessAgents(t: { teardown(fn: () => unknown): void }, h: Harness) {
  const started: Array<{ inst: Instance; handle: AgentHandle }> = []
  t.teardown(async () => {
    for (const s of started) {
      await s.handle.close()
      h.killEngines(s.inst.base)
    }
  })
  return {
    async ok(id: string, method: string, args: Record<string, unknown> = {}): Promise<unknown> {
      const r = await h.call(id, method, args)
      if (!r.ok) throw new Error(`${method}: ${r.error?.type}: ${r.error?.message}`)
      return r.result
    },
    async launch(manager: EngineManager, version: string, binDir: string | undefined, prepare: AgentBootstrap['prepare']): Promise<Instance> {
      const inst = h.makeInstance(manager, version, await h.endpoint(manager), { ...(binDir ? { binDir } : {}), prepare })
      const handle = await startAgent(inst.config, { log: () => {} })
      started.push({ inst, handle })
      await h.waitFor('HEALTHY', () => (h.heartbeats.get(inst.id) ?? []).find((x) => x.status === 'HEALTHY'), 120_000)
      return inst
    },
  }
}
