// The engine-neutral archive keeper (agent/archiving.ts): when the datastore's archiver runs, and what
// the heartbeat says when it does not. The archiver is a recording fake: the real ones are exercised
// end to end (test/e2e/pitr-postgresql.ts).
import t from 'tap'
import { ArchiveKeeper } from '../../src/agent/archiving.js'
import type { AgentBootstrap, ArchiveStatus } from '../../src/protocol/index.js'
import type { Archiver, Datastore } from '../../src/agent/datastores/types.js'

function setup(o: { archive?: boolean; backupDir?: string; withArchiver?: boolean } = {}) {
  const calls: string[] = []
  const dirs: string[] = []
  const archiver: Archiver = {
    start: async () => void calls.push('start'),
    stop: async () => void calls.push('stop'),
    status: (): ArchiveStatus => ({ state: 'streaming', latest_time: '2026-12-05T10:00:00.000Z' }),
  }
  const ds = {
    name: 'postgresql',
    ...(o.withArchiver === false
      ? {}
      : {
          archiver: (dir: string) => {
            dirs.push(dir)
            return archiver
          },
        }),
  } as unknown as Datastore
  const bootstrap = { instanceId: 'i1', archive: o.archive ?? true, backupDir: 'backupDir' in o ? o.backupDir : '/store' } as AgentBootstrap
  const keeper = new ArchiveKeeper(
    bootstrap,
    () => ds,
    () => {},
  )
  return { keeper, calls, dirs, bootstrap }
}

t.test('runs while on and the engine answers; stops before the engine stops', async (t) => {
  const { keeper, calls, dirs } = setup()
  t.match(keeper.status(), { state: 'lagging', detail: 'waiting for postgresql to answer' }, 'before the engine answers')
  await keeper.engineAnswering()
  await keeper.beforeEngineStop()
  t.same(calls, ['start', 'stop'])
  t.same(dirs, ['/store/archive/i1'], 'into the archive dir of the contract')
  await keeper.engineAnswering()
  await keeper.close()
  t.same(calls, ['start', 'stop', 'start', 'stop'], 'started again when it answers again; stopped when the agent closes')
})

t.test('set_archiving follows the retention', async (t) => {
  const { keeper, calls, bootstrap } = setup({ archive: false })
  await keeper.engineAnswering()
  t.match(keeper.status(), { state: 'off', detail: 'backup retention is 0 days' })
  t.match(await keeper.set(true), { state: 'streaming' }, 'on: the archiver status')
  t.equal(bootstrap.archive, true)
  t.match(await keeper.set(false), { state: 'off' }, 'off again')
  t.same(calls, ['start', 'stop'])
})

t.test('off: no store, or an engine without an archive (Redis)', async (t) => {
  const none = setup({ backupDir: undefined })
  await none.keeper.engineAnswering()
  t.match(none.keeper.status(), { state: 'off', latest_time: null, detail: 'no backup storage for this instance' })
  const redis = setup({ withArchiver: false })
  await redis.keeper.engineAnswering()
  await redis.keeper.set(true)
  t.match(redis.keeper.status(), { state: 'off', latest_time: null, detail: 'postgresql has no log archive: scheduled backups only' })
  t.same(none.calls.concat(redis.calls), [], 'nothing started')
})
