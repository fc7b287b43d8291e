// The lab's replication sets from its records (the packet filter's peers): slave_of links, and the members
// of a promote or eject while its instance's task says it runs (what a server restarted mid-flow recomputes).
import t from 'tap'
import { labReplicationSets } from '../../../src/server/instances/replication-sets.js'
import { InstanceTask } from '../../../src/server/tasks/instance-tasks.js'

type Row = { id: string; slave_of_id: string | null; task_id: number }
function fakeLab(rows: Row[], tasks: Array<{ kind: string; instance_id: string; payload: string }>) {
  return {
    instances: { listAll: () => rows },
    tasks: { allRunning: () => tasks },
  } as unknown as Parameters<typeof labReplicationSets>[0]
}
const NONE = InstanceTask.NONE.id

t.test('slave_of links make the sets', async (t) => {
  const rows: Row[] = [
    { id: 's', slave_of_id: null, task_id: NONE },
    { id: 'r1', slave_of_id: 's', task_id: NONE },
    { id: 'r2', slave_of_id: 's', task_id: NONE },
    { id: 'lone', slave_of_id: null, task_id: NONE },
  ]
  t.same(labReplicationSets(fakeLab(rows, [])), [['r1', 'r2', 's']])
})

t.test('mid-promote: the candidate (a source already) stays in the set while the flow runs', async (t) => {
  const P = InstanceTask.PROMOTING.id
  const rows: Row[] = [
    { id: 's', slave_of_id: null, task_id: P },
    { id: 'c', slave_of_id: null, task_id: P },
    { id: 'o', slave_of_id: 's', task_id: P },
  ]
  const promote = { kind: 'promote_to_replica_source', instance_id: 'c', payload: JSON.stringify({ source: 's', replicas: ['c', 'o'] }) }
  t.same(labReplicationSets(fakeLab(rows, [promote])), [['c', 'o', 's']], 'one set')
  const done = rows.map((r) => ({ ...r, task_id: NONE }))
  t.same(labReplicationSets(fakeLab(done, [promote])), [['o', 's']], 'once its tasks are back to NONE, the records alone say the set')
  t.same(labReplicationSets(fakeLab(rows, [{ ...promote, payload: 'not json' }])), [['o', 's']], 'a payload that is not a set links nothing')
})

t.test('eject: the dead source leaves the set at the end; deleted members link nothing', async (t) => {
  const E = InstanceTask.EJECTING.id
  const eject = { kind: 'eject_replica_source', instance_id: 'd', payload: JSON.stringify({ source: 'd', replicas: ['a', 'b'] }) }
  const during: Row[] = [
    { id: 'd', slave_of_id: null, task_id: E },
    { id: 'a', slave_of_id: null, task_id: E },
    { id: 'b', slave_of_id: 'd', task_id: E },
  ]
  t.same(labReplicationSets(fakeLab(during, [eject])), [['a', 'b', 'd']])
  const after: Row[] = [
    { id: 'd', slave_of_id: null, task_id: NONE },
    { id: 'a', slave_of_id: null, task_id: NONE },
    { id: 'b', slave_of_id: 'a', task_id: NONE },
  ]
  t.same(labReplicationSets(fakeLab(after, [])), [['a', 'b']])
  t.same(labReplicationSets(fakeLab([{ id: 'b', slave_of_id: 'gone', task_id: NONE }], [])), [], 'a source deleted meanwhile: no set')
})

t.test('rejoin: an ejected source is linked to the new primary while its rejoin runs, then by its slave_of', async (t) => {
  const J = InstanceTask.REJOINING.id
  const rejoin = { kind: 'rejoin_replica_set', instance_id: 'd', payload: JSON.stringify({ source: 'a', replicas: ['d'] }) }
  const waiting: Row[] = [
    { id: 'd', slave_of_id: null, task_id: NONE },
    { id: 'a', slave_of_id: null, task_id: NONE },
    { id: 'b', slave_of_id: 'a', task_id: NONE },
  ]
  t.same(labReplicationSets(fakeLab(waiting, [])), [['a', 'b']], 'waiting for its agent: outside the set')
  const during = waiting.map((r) => (r.id === 'd' ? { ...r, task_id: J } : r))
  t.same(labReplicationSets(fakeLab(during, [rejoin])), [['a', 'b', 'd']], 'rejoining: it reaches the new primary (pg_rewind, CHANGE MASTER, REPLICAOF)')
  const done = waiting.map((r) => (r.id === 'd' ? { ...r, slave_of_id: 'a' } : r))
  t.same(labReplicationSets(fakeLab(done, [])), [['a', 'b', 'd']], 'rejoined: a replica of the new primary')
})
