// Backup schedules and retention through the API, with the scheduler's clock in the test's hands
// (no timer: lab.scheduler.tick() runs a pass) and a scripted agent standing in for the guest.
import t, { type Test } from 'tap'
import { existsSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { apiLab, backupReadyInstance, instanceRow, type ApiLab } from '../../helpers/api.js'
import { until } from '../../helpers/scripted-agent.js'
import { agentEventTopic, encode, type AgentEvent } from '../../../src/protocol/index.js'
import { tempDir, buildServer } from '../../helpers/lab.js'
import { openDatabase } from '../../../src/server/db/index.js'
import { Tasks } from '../../../src/server/db/tasks.js'
import { backupStore } from '../../../src/server/db/backups.js'
import { scheduleStore } from '../../../src/server/db/backup-schedules.js'
import { createSchedule } from '../../../src/server/backups/schedules.js'

/** A clock the test moves. */
function clock(start: string) {
  let now = new Date(start)
  return { now: () => now, set: (iso: string) => (now = new Date(iso)) }
}

async function scheduledLab(t: Test, start: string) {
  const c = clock(start)
  const lab = await apiLab(t, { spawnAgents: false, clock: c.now, backupSchedulerMs: 0 })
  return { lab, clock: c, p: `/v1.0/${lab.demo.project}` }
}

let sent = Date.now()
/** The guest reports a backup COMPLETED, with a file in the store. */
async function complete(lab: ApiLab, instanceId: string, backupId: string): Promise<string> {
  const location = join(lab.dataDir, 'backups', `${backupId}.xbstream`)
  writeFileSync(location, `bytes of ${backupId}`)
  const checksum = createHash('md5').update(`bytes of ${backupId}`).digest('hex')
  const msg: AgentEvent = { kind: 'update_backup', sent: ++sent, backupId, state: 'COMPLETED', location, checksum, size: 0.001 }
  lab.server.lab.notifications.bus!.publish({ cmd: 'publish', topic: agentEventTopic(instanceId), payload: encode(msg), qos: 1, retain: false, dup: false } as never, () => {})
  const p = `/v1.0/${lab.demo.project}`
  await until(async () => (await lab.req('GET', `${p}/backups/${backupId}`)).body.backup.status === 'COMPLETED', 5000, 'COMPLETED')
  await until(async () => (await lab.req('GET', `${p}/instances/${instanceId}`)).body.instance.status === 'ACTIVE', 5000, 'ACTIVE again')
  return location
}

t.test('a schedule runs when due, once after missed times, as an automated backup through POST /backups', async (t) => {
  const { lab, clock, p } = await scheduledLab(t, '2026-12-05T10:00:30Z')
  const { id } = await backupReadyInstance(t, lab, 'db1')
  const r = await lab.req('POST', `${p}/instances/${id}/schedules`, { body: { schedule: { name: 'every5', pattern: '*/5 * * * *', description: 'five', incremental: true } } })
  t.equal(r.status, 200)
  const s = r.body.schedule
  t.match(s, { name: 'every5', pattern: '*/5 * * * *', description: 'five', incremental: true, instance_id: id, next_run: '2026-12-05T10:05:00', last_run: null, project_id: lab.demo.project })

  clock.set('2026-12-05T10:04:59Z')
  t.same(lab.server.lab.scheduler.tick().ran, [], 'not due before its time')
  clock.set('2026-12-05T10:05:00Z')
  const first = lab.server.lab.scheduler.tick().ran
  t.equal(first.length, 1, 'due at its time: one execution')
  let execs = (await lab.req('GET', `${p}/schedules/${s.id}/executions`)).body.executions
  t.equal(execs.length, 1)
  t.match(execs[0], { schedule_id: s.id, instance_id: id, scheduled_at: '2026-12-05T10:05:00', state: 'RUNNING', message: null })
  const b1 = (await lab.req('GET', `${p}/backups/${execs[0].backup_id}`)).body.backup
  t.match(b1, { name: 'every5', description: 'five', automated: true, parent_id: null, status: 'NEW' }, 'an incremental schedule with no backup to build on takes a full one')
  t.equal((await lab.req('GET', `${p}/instances/${id}/schedules/${s.id}`)).body.schedule.next_run, '2026-12-05T10:10:00', 'next run moved on')

  // Due again while the backup still runs: the instance is BACKUP, the execution fails with the reason.
  clock.set('2026-12-05T10:10:00Z')
  lab.server.lab.scheduler.tick()
  execs = (await lab.req('GET', `${p}/schedules/${s.id}/executions`)).body.executions
  t.match(execs[0], { state: 'ERROR', backup_id: null, message: /not currently available.*BACKUP.*\(HTTP 422\)/ }, 'an instance that cannot act gives a failed execution')
  await complete(lab, id, b1.id)
  execs = (await lab.req('GET', `${p}/schedules/${s.id}/executions`)).body.executions
  t.equal(execs[1].state, 'SUCCESS', 'the first execution succeeded with its backup')

  // The server was "down" from 10:10 to 11:02: one run at the next pass, not ten.
  clock.set('2026-12-05T11:02:13Z')
  t.equal(lab.server.lab.scheduler.tick().ran.length, 1, 'missed times run once')
  t.equal(lab.server.lab.scheduler.tick().ran.length, 0, 'and not again')
  t.equal((await lab.req('GET', `${p}/schedules/${s.id}`)).body.schedule.next_run, '2026-12-05T11:05:00')
  execs = (await lab.req('GET', `${p}/schedules/${s.id}/executions`)).body.executions
  const b2 = (await lab.req('GET', `${p}/backups/${execs[0].backup_id}`)).body.backup
  t.match(b2, { automated: true, parent_id: b1.id }, 'with a full backup to build on, the schedule takes an incremental')

  // Manual backups are not automated; listing, deleting executions and schedules.
  await complete(lab, id, b2.id)
  const list = (await lab.req('GET', `${p}/instances/${id}/schedules`)).body.schedules
  t.same(
    list.map((x: { id: string }) => x.id),
    [s.id],
  )
  t.equal((await lab.req('DELETE', `${p}/executions/${execs[0].id}`)).status, 202)
  t.equal((await lab.req('GET', `${p}/schedules/${s.id}/executions`)).body.executions.length, 2, 'execution deleted')
  t.equal((await lab.req('GET', `${p}/backups/${b2.id}`)).status, 200, 'its backup stays')
  t.equal((await lab.req('DELETE', `${p}/instances/${id}/schedules/${s.id}`)).status, 202)
  t.equal((await lab.req('GET', `${p}/schedules/${s.id}`)).status, 404, 'schedule deleted')
  clock.set('2026-12-05T12:00:00Z')
  t.same(lab.server.lab.scheduler.tick().ran, [], 'a deleted schedule does not run')
})

t.test('bad input: nothing created, upstream faults', async (t) => {
  const { lab, p } = await scheduledLab(t, '2026-12-05T10:00:00Z')
  const { id } = await backupReadyInstance(t, lab, 'db1')
  const { id: rid } = await backupReadyInstance(t, lab, 'r1', 'redis')
  const post = (inst: string, schedule: unknown, token?: string) => lab.req('POST', `${p}/instances/${inst}/schedules`, { body: { schedule }, ...(token ? { token } : {}) })
  const cases: Array<[string, unknown, number, RegExp]> = [
    ['six fields', { name: 'x', pattern: '* * * * * *' }, 400, /Invalid schedule pattern '\* \* \* \* \* \*': a schedule has five fields/],
    ['garbage', { name: 'x', pattern: 'every day' }, 400, /Invalid schedule pattern 'every day'/],
    ['out of range', { name: 'x', pattern: '61 * * * *' }, 400, /Invalid schedule pattern '61 \* \* \* \*': .*minute/],
    ['never runs', { name: 'x', pattern: '0 0 30 2 *' }, 400, /it never runs/],
    ['no pattern', { name: 'x' }, 400, /Invalid schedule pattern/],
    ['no name', { pattern: '0 * * * *' }, 400, /Invalid schedule name/],
    ['bad incremental', { name: 'x', pattern: '0 * * * *', incremental: 'yes' }, 400, /'incremental'/],
  ]
  for (const [what, body, status, message] of cases) {
    const r = await post(id, body)
    t.equal(r.status, status, what)
    t.match(r.body.badRequest?.message, message, what)
  }
  const redis = await post(rid, { name: 'x', pattern: '0 * * * *', incremental: true })
  t.match(redis.body, { badRequest: { code: 400, message: /Incremental backups are not supported by datastore redis/ } }, 'redis has no incrementals')
  const unknown = await post('6f1c1d9e-0000-4000-8000-000000000000', { name: 'x', pattern: '0 * * * *' })
  t.match(unknown.body, { itemNotFound: { code: 404 } }, 'unknown instance')
  const adminInst = (
    await lab.req('POST', `/v1.0/${lab.admin.project}/instances`, {
      body: { instance: { name: 'theirs', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' } } },
      token: lab.admin.token,
    })
  ).body.instance.id as string
  const other = await post(adminInst, { name: 'x', pattern: '0 * * * *' })
  t.match(other.body, { itemNotFound: { code: 404, message: `Resource ${adminInst} cannot be found.` } }, "another project's instance: 404")
  t.same((await lab.req('GET', `${p}/instances/${id}/schedules`)).body.schedules, [], 'nothing created')
  t.equal((await lab.req('GET', `${p}/schedules/6f1c1d9e-0000-4000-8000-000000000000`)).status, 404)
  // Retention
  for (const [v, m] of [
    [{ days: -1 }, /Invalid backup retention days -1: an integer from 0 to 365/],
    [{ days: 100000 }, /Invalid backup retention days 100000/],
    [{ count: 0 }, /Invalid backup retention count 0: an integer from 1 to 1000/],
    [{ weeks: 1 }, /unknown key 'weeks'/],
    [7, /Invalid backup_retention/],
  ] as const) {
    const u = await lab.req('PUT', `${p}/instances/${id}`, { body: { instance: { backup_retention: v } } })
    t.match([u.status, u.body.badRequest?.message], [400, m], `update ${JSON.stringify(v)}`)
    const c = await lab.req('POST', `${p}/instances`, { body: { instance: { name: 'n', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' }, backup_retention: v } } })
    t.match([c.status, c.body.badRequest?.message], [400, m], `create ${JSON.stringify(v)}`)
  }
  t.equal((await lab.req('GET', `${p}/instances`)).body.instances.length, 2, 'no instance created')
  t.same((await lab.req('GET', `/v1.0/${lab.admin.project}/instances/${adminInst}/schedules`, { token: lab.admin.token })).body.schedules, [], 'none on the other instance either')
  t.same((await lab.req('GET', `${p}/instances/${id}`)).body.instance.backup_retention, { days: 1, count: null }, 'lab default: 1 day, no count')
})

t.test('retention: count and days expire automated backups, manual ones stay, files go with rows', async (t) => {
  const { lab, clock, p } = await scheduledLab(t, '2026-12-05T10:00:30Z')
  const { id } = await backupReadyInstance(t, lab, 'db1')
  t.equal((await lab.req('PUT', `${p}/instances/${id}`, { body: { instance: { backup_retention: { count: 1 } } } })).status, 202)
  t.same((await lab.req('GET', `${p}/instances/${id}`)).body.instance.backup_retention, { days: 1, count: 1 })
  const s = (await lab.req('POST', `${p}/instances/${id}/schedules`, { body: { schedule: { name: 'auto', pattern: '0 * * * *' } } })).body.schedule
  const manual = (await lab.req('POST', `${p}/backups`, { body: { backup: { name: 'manual', instance: id } } })).body.backup
  t.equal(manual.automated, false, 'a manual backup is not automated')
  const manualFile = await complete(lab, id, manual.id)
  const run = async (at: string) => {
    clock.set(at)
    lab.server.lab.scheduler.tick()
    const e = (await lab.req('GET', `${p}/schedules/${s.id}/executions`)).body.executions[0]
    return { id: e.backup_id as string, file: await complete(lab, id, e.backup_id) }
  }
  const a1 = await run('2026-12-05T11:00:00Z')
  const a2 = await run('2026-12-05T12:00:00Z')
  const r = lab.server.lab.scheduler.tick()
  t.same(r.expiring, [id], 'an expiry task for the instance')
  await until(async () => (await lab.req('GET', `${p}/backups/${a1.id}`)).status === 404, 5000, 'older automated backup expired')
  t.notOk(existsSync(a1.file), 'its file is gone')
  t.ok(existsSync(a2.file), 'the newest automated backup stays')
  t.equal((await lab.req('GET', `${p}/backups/${manual.id}`)).status, 200, 'the manual backup stays')
  t.ok(existsSync(manualFile))
  const execs = (await lab.req('GET', `${p}/schedules/${s.id}/executions`)).body.executions
  t.match(execs[1], { backup_id: a1.id, state: 'SUCCESS' }, 'the execution still tells its outcome')

  // Days: a day later the last automated backup expires too (retention 1 day).
  clock.set('2026-12-06T12:00:01Z')
  // The clock passed 13:00 and later hours: one run (missed times once), completed, then kept (it is young).
  lab.server.lab.scheduler.tick()
  const e = (await lab.req('GET', `${p}/schedules/${s.id}/executions`)).body.executions[0]
  await complete(lab, id, e.backup_id)
  // Passes until it is gone, as the scheduler's timer would make them (an expiry still running is not submitted twice).
  const expiredAfterPass = async (backupId: string) => {
    lab.server.lab.scheduler.tick()
    return (await lab.req('GET', `${p}/backups/${backupId}`)).status === 404
  }
  await until(() => expiredAfterPass(a2.id), 5000, 'a backup older than the retention days expired')
  t.equal((await lab.req('GET', `${p}/backups/${e.backup_id}`)).status, 200, 'the young one stays')

  // Retention 0: automated backups off. The schedule's runs fail with the reason; existing automated backups expire.
  t.equal((await lab.req('PUT', `${p}/instances/${id}`, { body: { instance: { backup_retention: { days: 0 } } } })).status, 202)
  clock.set('2026-12-06T13:00:00Z')
  lab.server.lab.scheduler.tick()
  const off = (await lab.req('GET', `${p}/schedules/${s.id}/executions`)).body.executions[0]
  t.match(off, { state: 'ERROR', backup_id: null, message: /Automated backups of instance .* are off \(backup retention 0 days\)/ })
  await until(() => expiredAfterPass(e.backup_id), 5000, 'automated backups expire with retention 0')
  t.equal((await lab.req('GET', `${p}/backups/${manual.id}`)).status, 200, 'the manual backup still stays')
  const quota = lab.server.lab.quotas.usage(lab.demo.project).find((q) => q.resource === 'backups')
  t.equal(quota?.in_use, 1, 'the quota was given back for each expired backup')
})

t.test('restart: a schedule missed while the server was down runs once at start; an expiry killed midway finishes', async (t) => {
  const dir = tempDir(t)
  const dataDir = join(dir, 'lab')
  const c = clock('2026-12-05T10:00:30Z')
  const build = (maxSleep: number) => buildServer({ dataDir, host: '127.0.0.1', port: 0, log: () => {}, spawnAgents: false, clock: c.now, backupSchedulerMs: maxSleep })
  // First run: an instance row (it never gets ACTIVE: no agent), a schedule, and three automated backups.
  let server = await build(0)
  await server.start()
  const { lab } = server
  const { id, version } = instanceRow(lab, 'mariadb')
  const s = createSchedule(lab, { projectId: 'p1', isAdmin: false }, id, { name: 'hourly', pattern: '0 * * * *' }, c.now())
  const backups = backupStore(lab.db)
  const files: Record<string, string> = {}
  for (const [bid, created, parent] of [
    ['b-full', '2026-12-01T00:00:00', null],
    ['b-inc', '2026-12-02T00:00:00', 'b-full'],
    ['b-new', '2026-12-05T09:00:00', null],
  ] as const) {
    backups.insert({
      id: bid,
      name: bid,
      description: null,
      tenant_id: 'p1',
      instance_id: id,
      parent_id: parent,
      datastore_version_id: version,
      backup_type: parent ? 'incremental' : 'full',
      storage_driver: 'local',
      automated: true,
      created,
    })
    files[bid] = join(dataDir, 'backups', `${bid}.xbstream`)
    writeFileSync(files[bid], bid)
    backups.update(bid, { state: 'COMPLETED', location: files[bid], checksum: createHash('md5').update(bid).digest('hex') })
  }
  lab.quotas.run('p1', { backups: 3 }, () => undefined)
  await server.close()

  // What a kill -9 in the middle of the expiry leaves: the task recorded at the step of b-inc, whose file is gone and row is not.
  const db = openDatabase(join(dataDir, 'trove.db'))
  new Tasks(db).insert({
    id: 'task-1',
    instance_id: id,
    kind: 'expire_backups',
    state: 'running',
    step: 'remove:0',
    payload: JSON.stringify({ backupIds: ['b-inc', 'b-full'] }),
    error: null,
    created: '2026-12-05T10:00:40',
    updated: '2026-12-05T10:00:40',
  })
  db.close()
  rmSync(files['b-inc'])

  // The server was down from 10:00:40 to 13:20: at start, one run (not three) and the expiry finished.
  c.set('2026-12-05T13:20:00Z')
  server = await build(60_000)
  t.teardown(() => server.close())
  await server.start()
  const store = scheduleStore(server.lab.db)
  await until(() => store.executions(s.id).length > 0, 5000, 'the missed run at start')
  const executions = store.executions(s.id)
  t.equal(executions.length, 1, 'missed runs run once')
  t.match(
    executions[0],
    { scheduled_at: '2026-12-05T11:00:00', state: 'ERROR', error: /is not ready|not currently available|BUILD/ },
    'an instance that is not ACTIVE: a failed execution with the reason',
  )
  t.equal(store.get(s.id)?.next_run, '2026-12-05T14:00:00')
  const b2 = backupStore(server.lab.db)
  await until(() => !b2.get('b-inc') && !b2.get('b-full'), 5000, 'the resumed expiry')
  t.notOk(existsSync(files['b-full']), 'b-full: file gone with its row')
  t.ok(b2.get('b-new') && existsSync(files['b-new']), 'b-new (young) kept with its file')
  t.equal(server.lab.quotas.usage('p1').find((q) => q.resource === 'backups')?.in_use, 1, 'the quota given back once per backup')
})

t.test('the Mistral v2 subset: cron triggers are schedules, executions their runs; Mistral faults', async (t) => {
  const { lab, clock, p } = await scheduledLab(t, '2026-12-05T10:00:30Z')
  const { id } = await backupReadyInstance(t, lab, 'db1')
  const m = '/mistral/v2'
  const tok = await lab.req('GET', '/identity/v3/auth/tokens', { headers: { 'x-subject-token': lab.demo.token } })
  t.match(
    tok.body.token.catalog.find((c: { type: string }) => c.type === 'workflowv2'),
    { name: 'mistral', endpoints: [{ interface: 'public', url: /\/mistral\/v2$/ }] },
    'workflowv2 in the catalog',
  )
  t.equal((await lab.req('GET', `${m}/cron_triggers`, { token: '' })).status, 401, 'a token is required')
  const name = '3f2a9c1e-5b6d-4e7f-8a9b-0c1d2e3f4a5b'
  const input = { instance: id, name: 'legacy', description: null, incremental: false }
  const made = await lab.req('POST', `${m}/cron_triggers`, {
    body: { name, workflow_name: 'trove.backup_create', pattern: '0 * * * *', first_execution_time: null, remaining_executions: null, workflow_input: JSON.stringify(input) },
  })
  t.equal(made.status, 201)
  t.match(made.body, { name, pattern: '0 * * * *', workflow_name: 'trove.backup_create', next_execution_time: '2026-12-05 11:00:00', created_at: '2026-12-05 10:00:30' })
  t.same(JSON.parse(made.body.workflow_input), input, 'the workflow input comes back as the client sent it')
  t.match((await lab.req('GET', `${p}/schedules/${name}`)).body.schedule, { id: name, name: 'legacy', instance_id: id }, 'it is a schedule of the lab')
  t.same(
    (await lab.req('GET', `${m}/cron_triggers`)).body.cron_triggers.map((c: { name: string }) => c.name),
    [name],
  )
  for (const [body, message] of [
    [{ name, workflow_name: 'other', pattern: '0 * * * *' }, /only the trove.backup_create workflow/],
    [{ name: 'nightly', workflow_name: 'trove.backup_create', pattern: '0 * * * *', workflow_input: JSON.stringify(input) }, /names cron triggers by UUID/],
    [{ name: '4f2a9c1e-5b6d-4e7f-8a9b-0c1d2e3f4a5b', workflow_name: 'trove.backup_create', pattern: 'nope', workflow_input: JSON.stringify(input) }, /Invalid schedule pattern 'nope'/],
    [{ name: '4f2a9c1e-5b6d-4e7f-8a9b-0c1d2e3f4a5b', workflow_name: 'trove.backup_create', pattern: '0 * * * *', remaining_executions: 3, workflow_input: JSON.stringify(input) }, /not supported/],
  ] as const) {
    const r = await lab.req('POST', `${m}/cron_triggers`, { body })
    t.match([r.status, r.body], [400, { faultstring: message, faultcode: 'Client' }], `refused: ${String(message)}`)
  }
  t.match((await lab.req('GET', `${m}/cron_triggers/4f2a9c1e-5b6d-4e7f-8a9b-0c1d2e3f4a5b`)).body, { faultstring: /cannot be found/ }, '404 with a faultstring')
  // Three runs; the client pages with marker = the last id it got until a page is empty.
  for (const at of ['2026-12-05T11:00:00Z', '2026-12-05T12:00:00Z', '2026-12-05T13:00:00Z']) {
    clock.set(at)
    lab.server.lab.scheduler.tick() // the instance is BACKUP after the first: the later runs are ERROR executions
  }
  const page1 = (await lab.req('GET', `${m}/executions?limit=2&sort_dirs=desc`)).body.executions
  t.equal(page1.length, 2)
  const page2 = (await lab.req('GET', `${m}/executions?limit=2&sort_dirs=desc&marker=${page1[1].id}`)).body.executions
  t.equal(page2.length, 1)
  t.same((await lab.req('GET', `${m}/executions?limit=2&marker=${page2[0].id}`)).body.executions, [], 'then an empty page')
  t.match(page2[0], { workflow_name: 'trove.backup_create', state: 'RUNNING', created_at: '2026-12-05 11:00:00' })
  t.same(JSON.parse(page2[0].input), input, 'an execution carries its cron trigger input (the client matches them)')
  t.match(JSON.parse(page2[0].output), { backup_id: /^[0-9a-f-]{36}$/ })
  t.match(page1[0], { state: 'ERROR', state_info: /not currently available/ })
  t.equal((await lab.req('DELETE', `${m}/executions/${page1[0].id}`)).status, 204)
  t.equal((await lab.req('DELETE', `${m}/cron_triggers/${name}`)).status, 204)
  t.equal((await lab.req('GET', `${p}/schedules/${name}`)).status, 404)
})
