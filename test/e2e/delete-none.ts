// A delete on the `none` compute, end to end with a real PostgreSQL and its WAL archiver: the agent ends by
// itself once it stopped its engine (its archiver's wait once held it for 10 s, and the server killed it after
// 5 s: every PostgreSQL delete took ~7 s), the directory leaves its place within the delete and is removed in
// the background (src/server/compute/trash.ts), and a closed server leaves nothing in the trash.
import t from 'tap'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { labClient, startLab } from '../helpers/lab.js'

t.test('delete: the agent ends by itself, the directory goes at once, the trash is emptied', async (t) => {
  const lab = await startLab(t, { isolation: 'none', reconcileMs: 0 })
  const client = labClient(lab.cloudsFile)
  const made = await client.instances.create({ name: 'del-pg', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'postgresql' } })
  const dir = join(lab.dataDir, 'instances', made.id)
  let status = ''
  while (status !== 'ACTIVE' && status !== 'ERROR') {
    status = (await client.instances.get(made.id)).status
    await sleep(100)
  }
  t.equal(status, 'ACTIVE', 'ACTIVE')
  // The archiver runs from the first answer on: the delete must find it running.
  const agentLog = () => readFileSync(join(dir, 'agent.log'), 'utf8')
  while (!/pg_receivewal started/.test(agentLog())) await sleep(100)
  const agentPid = Number(readFileSync(join(dir, 'agent.pid'), 'utf8').trim())
  t.ok(agentPid > 0, 'the agent runs')

  await client.instances.delete(made.id)
  while (await client.instances.get(made.id).catch(() => undefined)) await sleep(50)
  t.notOk(existsSync(dir), 'the directory is gone when the delete has ended')
  let alive = true
  try {
    process.kill(agentPid, 0)
  } catch {
    alive = false
  }
  t.notOk(alive, 'the agent is gone')
  const instanceLines = lab.logs.filter((l) => l.includes(made.id))
  t.notMatch(instanceLines.join('\n'), /had not ended|killed/, `the agent ended by itself, not killed (${instanceLines.join(' | ')})`)

  await lab.server.close()
  const trash = join(lab.dataDir, 'trash')
  t.same(existsSync(trash) ? readdirSync(trash) : [], [], 'nothing left in the trash once the server closed')
})
