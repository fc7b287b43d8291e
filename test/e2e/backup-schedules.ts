// Backup schedules and retention end to end: a real lab (in this process, so the test drives the
// scheduler's clock), a real Redis instance and its agent, the real bin/trove (legacy names and
// openstack-style nouns). Every wait is on a condition.
import t from 'tap'
import { instanceRow } from '../helpers/api.js'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { spawn, spawnSync } from 'node:child_process'
import { parse } from 'yaml'
import { cleanEnv, runCli, startLab, startServerProcess, tempDir, troveCommand, buildServer } from '../helpers/lab.js'
import { backupStore } from '../../src/server/db/backups.js'
import { scheduleStore } from '../../src/server/db/backup-schedules.js'

/** Whether the real python legacy client and Mistral's client are installed. */
const legacyClient = () => spawnSync('/usr/bin/python3', ['-c', 'import troveclient.shell, mistralclient'], { stdio: 'ignore' }).status === 0

/** OS_* settings of the lab's demo user for the python client (it reads no clouds.yaml). */
function legacyEnv(cloudsFile: string): Record<string, string> {
  const auth = (parse(readFileSync(cloudsFile, 'utf8')) as { clouds: Record<string, { auth: Record<string, string> }> }).clouds['trove-lab'].auth
  return cleanEnv({
    OS_AUTH_URL: auth.auth_url,
    OS_USERNAME: auth.username,
    OS_PASSWORD: auth.password,
    OS_PROJECT_NAME: auth.project_name,
    OS_USER_DOMAIN_NAME: 'Default',
    OS_PROJECT_DOMAIN_NAME: 'Default',
    OS_REGION_NAME: 'RegionOne',
  })
}

const until = async (probe: () => Promise<boolean>, what: string, ms = 180_000) => {
  const end = Date.now() + ms
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

t.test('schedules run automated backups that expire by retention, through bin/trove', async (t) => {
  let now = new Date('2026-12-05T10:00:30Z')
  const lab = await startLab(t, { clock: () => now, backupSchedulerMs: 0 })
  const scheduler = lab.server.lab.scheduler
  const cli = (...args: string[]) => runCli(args, lab.env)
  const json = async (...args: string[]) => {
    const r = await cli(...args, '-f', 'json')
    if (r.code !== 0) throw new Error(`trove ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim()}`)
    return JSON.parse(r.stdout)
  }
  const inst = await json(
    'instance',
    'create',
    'r1',
    '--flavor',
    'm1.tiny',
    '--size',
    '1',
    '--datastore',
    'redis',
    '--backup-retention',
    '1',
    '--backup-retention-count',
    '1',
    '--wait',
    '--timeout',
    '180',
  )
  t.equal(inst.status, 'ACTIVE')
  t.same(inst.backup_retention, { days: 1, count: 1 }, 'instance create --backup-retention and --backup-retention-count')

  // Legacy name, then the openstack-style nouns.
  const s = await json('schedule-create', 'r1', '*/10 * * * *', 'auto', '--description', 'every ten minutes')
  t.match(s, { name: 'auto', pattern: '*/10 * * * *', description: 'every ten minutes', incremental: false, instance_id: inst.id, next_run: '2026-12-05T10:10:00' })
  t.same(
    (await json('backup', 'schedule', 'list', 'r1')).map((r: Record<string, unknown>) => [r.ID, r.Name, r.Pattern, r['Next Run']]),
    [[s.id, 'auto', '*/10 * * * *', '2026-12-05T10:10:00']],
    'backup schedule list',
  )
  t.match(await json('schedule-show', s.id), { id: s.id, name: 'auto' }, 'schedule-show')
  t.equal((await json('schedule-list', 'r1')).length, 1, 'schedule-list')

  // A key written with Redis's own client before the automated backups: a restore must have it.
  const redis = async (name: string, input: string) => {
    const { password } = await json('root', 'enable', name)
    const ip = (await json('instance', 'show', name)).ip as string
    const r = spawnSync('redis-cli', ['-h', ip, '-p', '6379', '--user', 'root', '--no-auth-warning'], { input, env: { ...process.env, REDISCLI_AUTH: password }, encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`redis-cli: ${r.stderr}`)
    return r.stdout.trim()
  }
  t.equal(await redis('r1', 'SET scheduled yes\n'), 'OK')
  const manual = await json('backup', 'create', 'manual', '--instance', 'r1', '--wait', '--timeout', '180')
  t.match(manual, { status: 'COMPLETED', automated: false }, 'a manual backup')

  /** Moves the clock to `iso`, runs a pass, and waits for the execution's backup to be COMPLETED. */
  const runAt = async (iso: string, sid: string = s.id) => {
    now = new Date(iso)
    t.equal(scheduler.tick().ran.length, 1, `the schedule ran at ${iso}`)
    const [e] = await json('backup', 'execution', 'list', sid)
    t.ok(e['Backup ID'], `the execution names its backup (${e.State})`)
    await until(async () => (await json('backup', 'show', e['Backup ID'])).status === 'COMPLETED', 'the automated backup COMPLETED')
    await until(async () => (await json('instance', 'show', 'r1')).status === 'ACTIVE', 'r1 ACTIVE again')
    return json('backup', 'show', e['Backup ID'])
  }
  const a1 = await runAt('2026-12-05T10:10:00Z')
  t.match(a1, { name: 'auto', description: 'every ten minutes', automated: true, status: 'COMPLETED', instance_id: inst.id }, 'an automated backup, COMPLETED')
  t.ok(existsSync(a1.locationRef), 'its file is in the store')
  const a2 = await runAt('2026-12-05T10:20:00Z')

  // Retention count 1: the pass after a2 expires a1 (file and row); a2 and the manual backup stay.
  now = new Date('2026-12-05T10:20:05Z')
  t.same(scheduler.tick().expiring, [inst.id], 'an expiry for r1')
  await until(async () => (await cli('backup', 'show', a1.id)).code === 1, 'a1 expired')
  t.notOk(existsSync(a1.locationRef), "a1's file is gone")
  t.ok(existsSync(a2.locationRef), 'a2 stays')
  t.equal((await json('backup', 'show', manual.id)).status, 'COMPLETED', 'the manual backup stays')

  const execs = await json('execution-list', s.id)
  t.same(
    execs.map((e: Record<string, unknown>) => [e['Backup ID'], e.State]),
    [
      [a2.id, 'SUCCESS'],
      [a1.id, 'SUCCESS'],
    ],
    'execution-list: each run with its backup and outcome, newest first',
  )
  t.same(
    (await json('execution-list', s.id, '--limit', '1')).map((e: Record<string, unknown>) => e.ID),
    [execs[0].ID],
    '--limit 1: the newest',
  )
  t.same(
    (await json('execution-list', s.id, '--limit', '1', '--marker', execs[0].ID)).map((e: Record<string, unknown>) => e.ID),
    [execs[1].ID],
    '--marker: the page after it',
  )
  const badMarker = await cli('execution-list', s.id, '--marker', 'nope')
  t.match(badMarker, { code: 1, stderr: /^No execution with ID 'nope' in schedule / }, 'an unknown marker: one line')
  t.equal((await cli('execution-delete', execs[1].ID)).code, 0, 'execution-delete')
  t.equal((await json('backup', 'execution', 'list', s.id)).length, 1)

  // Bad input: one line, the upstream fault, nothing created.
  const bad: Array<[string[], RegExp]> = [
    [['schedule-create', 'r1', 'not a pattern', 'x'], /^Invalid schedule pattern 'not a pattern': a schedule has five fields.*\(HTTP 400\) \(Request-ID: req-[0-9a-f-]+\)\n$/],
    [['backup', 'schedule', 'create', 'r1', '0 0 30 2 *', 'x'], /^Invalid schedule pattern '0 0 30 2 \*': it never runs\. \(HTTP 400\) \(Request-ID: req-[0-9a-f-]+\)\n$/],
    [['backup', 'schedule', 'create', 'r1', '0 * * * *', 'x', '--incremental'], /^Incremental backups are not supported by datastore redis.*\(HTTP 400\) \(Request-ID: req-[0-9a-f-]+\)\n$/],
    [['schedule-create', 'no-such-instance', '0 * * * *', 'x'], /^Failed to get resource ID for no-such-instance, error: 404 \(HTTP 404\)( \(Request-ID: req-[0-9a-f-]+\))?\n$/],
    [
      ['schedule-create', '6f1c1d9e-0000-4000-8000-000000000000', '0 * * * *', 'x'],
      /^Resource 6f1c1d9e-0000-4000-8000-000000000000 cannot be found\. \(HTTP 404\)( \(Request-ID: req-[0-9a-f-]+\))?\n$/,
    ],
    [['instance', 'update', 'r1', '--backup-retention', '-1'], /^Invalid backup retention days -1: an integer from 0 to 365 .*\(HTTP 400\) \(Request-ID: req-[0-9a-f-]+\)\n$/],
    [['update', 'r1', '--backup-retention', '99999'], /^Invalid backup retention days 99999.*\(HTTP 400\) \(Request-ID: req-[0-9a-f-]+\)\n$/],
    [['instance', 'update', 'r1', '--backup-retention-count', '0'], /^Invalid backup retention count 0: an integer from 1 to 1000.*\(HTTP 400\) \(Request-ID: req-[0-9a-f-]+\)\n$/],
    [['schedule-show', '6f1c1d9e-0000-4000-8000-000000000000'], /^Backup schedule 6f1c1d9e-0000-4000-8000-000000000000 cannot be found\. \(HTTP 404\)( \(Request-ID: req-[0-9a-f-]+\))?\n$/],
  ]
  for (const [args, message] of bad) {
    const r = await cli(...args)
    t.equal(r.code, 1, `trove ${args.join(' ')}: exit 1`)
    t.match(r.stderr, message, `trove ${args.join(' ')}: one line`)
  }
  t.equal((await json('backup', 'schedule', 'list', 'r1')).length, 1, 'no schedule created by bad input')
  t.same((await json('instance', 'show', 'r1')).backup_retention, { days: 1, count: 1 }, 'retention unchanged by bad input')
  t.equal((await cli('instance', 'update', 'r1', '--backup-retention', '3', '--backup-retention-count', 'none')).code, 0)
  t.same((await json('instance', 'show', 'r1')).backup_retention, { days: 3, count: null }, 'instance update --backup-retention')

  t.equal((await cli('backup', 'schedule', 'delete', s.id)).code, 0, 'backup schedule delete')

  // The real legacy python client (python-troveclient's `trove` shell), whose schedule commands talk to
  // Mistral's v2 API from the catalog (workflowv2): the lab serves that subset from its own schedules.
  if (legacyClient()) {
    const py = legacyEnv(lab.cloudsFile)
    // Asynchronous: the lab answers from this very process.
    const legacy = (...args: string[]) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((done) => {
        const child = spawn('/usr/bin/python3', ['-c', "import sys; from troveclient.shell import main; sys.argv[0] = 'trove'; main()", ...args], { env: py })
        let stdout = ''
        let stderr = ''
        child.stdout.on('data', (b) => {
          stdout += b
        })
        child.stderr.on('data', (b) => {
          stderr += b
        })
        child.on('close', (status) => done({ status, stdout, stderr }))
      })
    const made = await legacy('schedule-create', 'r1', '*/15 * * * *', 'legacy', '--description', 'from the python client')
    t.equal(made.status, 0, `python trove schedule-create (${made.stderr.trim()})`)
    const legacyId = /\| id\s+\| ([0-9a-f-]{36})/.exec(made.stdout)?.[1] ?? ''
    t.match(await json('backup', 'schedule', 'show', legacyId), { name: 'legacy', description: 'from the python client', pattern: '*/15 * * * *', instance_id: inst.id }, 'the schedule is ours')
    t.match((await legacy('schedule-list', 'r1')).stdout, legacyId, 'python trove schedule-list')
    t.match((await legacy('schedule-show', legacyId)).stdout, /next_execution_time\s+\| 2026-12-05 10:30:00/, 'python trove schedule-show')
    const b3 = await runAt('2026-12-05T10:30:00Z', legacyId)
    t.match(b3, { name: 'legacy', automated: true }, 'it runs as any schedule')
    const listed = await legacy('execution-list', legacyId)
    t.equal(listed.status, 0, `python trove execution-list (${listed.stderr.trim()})`)
    const execId = /([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}).*SUCCESS/.exec(listed.stdout)?.[1]
    t.ok(execId && listed.stdout.includes(b3.id), 'python trove execution-list: the run, SUCCESS, with its backup')
    t.equal((await legacy('execution-delete', execId ?? '')).status, 0, 'python trove execution-delete')
    t.same(await json('backup', 'execution', 'list', legacyId), [], 'execution gone')
    const badPattern = await legacy('schedule-create', 'r1', 'bogus', 'x')
    t.match(badPattern.stdout + badPattern.stderr, /Invalid schedule pattern 'bogus'/, 'python trove schedule-create: the error')
    t.equal((await legacy('schedule-delete', legacyId)).status, 0, 'python trove schedule-delete')
    t.equal((await cli('schedule-show', legacyId)).code, 1, 'gone')
  } else t.comment('python-troveclient with python-mistralclient not installed: legacy python client part skipped')

  t.same(await json('schedule-list', 'r1'), [], 'no schedule left')
  t.equal((await cli('instance', 'delete', 'r1', '--wait', '--timeout', '120')).code, 0, 'r1 deleted')
  t.equal((await json('backup', 'show', a2.id)).status, 'COMPLETED', "a deleted instance's automated backup is kept for its retention")
  const r2 = await json('instance', 'create', 'r2', '--flavor', 'm1.tiny', '--size', '1', '--backup', a2.id, '--wait', '--timeout', '180')
  t.equal(r2.status, 'ACTIVE', 'and restorable after the instance is gone')
  t.equal(await redis('r2', 'GET scheduled\n'), 'yes', 'the restore has the data')
  t.equal((await cli('instance', 'delete', 'r2', '--wait', '--timeout', '120')).code, 0, 'r2 deleted')

  // Its retention (3 days) after the deletion: the automated backups go, the manual one stays.
  now = new Date(Date.now() + 3 * 86_400_000 + 60_000)
  t.ok(scheduler.tick().expiring.includes(inst.id), 'expiry of the deleted instance')
  await until(async () => (await cli('backup', 'show', a2.id)).code === 1, 'a2 expired after the retention')
  t.notOk(existsSync(a2.locationRef), "a2's file is gone")
  t.equal((await json('backup', 'show', manual.id)).status, 'COMPLETED', 'the manual backup of the deleted instance stays')
  t.equal((await cli('backup', 'delete', manual.id)).code, 0)
})

t.test('kill -9 of the server in the middle of an expiry: the next start finishes it, no file without a row nor a row without its file', async (t) => {
  const dir = tempDir(t, 'tx')
  const dataDir = join(dir, 'lab')
  // A lab with an instance row and 250 automated backups, made in this process and closed.
  const server = await buildServer({ dataDir, host: '127.0.0.1', port: 0, log: () => {}, spawnAgents: false, backupSchedulerMs: 0 })
  const { lab } = server
  const { id, version } = instanceRow(lab, 'redis')
  scheduleStore(lab.db).setRetention(id, 1, 1)
  lab.quotas.setLimits('p1', { backups: -1 })
  const backups = backupStore(lab.db)
  const N = 250
  const files: string[] = []
  for (let i = 0; i < N; i++) {
    const bid = `kill-${String(i).padStart(4, '0')}`
    backups.insert({
      id: bid,
      name: bid,
      description: null,
      tenant_id: 'p1',
      instance_id: id,
      parent_id: null,
      datastore_version_id: version,
      backup_type: 'full',
      storage_driver: 'local',
      automated: true,
      created: new Date(Date.now() - (N - i) * 1000).toISOString().slice(0, 19),
    })
    files.push(join(dataDir, 'backups', `${bid}.rdb`))
    writeFileSync(files[i], bid)
    backups.update(bid, { state: 'COMPLETED', location: files[i], checksum: '0'.repeat(32) })
  }
  lab.quotas.run('p1', { backups: N }, () => undefined)
  await server.close()

  // The real server, killed (SIGKILL, by the chaos hook) right after recording its second batch.
  // (Spawned here: the helper's teardown would wait for the exit of a process already gone.)
  const [cmd, argv] = troveCommand(['server', '--data-dir', dataDir, '--port', '0'])
  const first = spawn(cmd, argv, { stdio: 'ignore', env: cleanEnv({ TROVE_TEST_CRASH_AT: 'expire_backups:remove:1' }) })
  const signal = await new Promise((r) => first.once('exit', (_c, s) => r(s)))
  t.equal(signal, 'SIGKILL', 'killed mid-expiry')
  const state = () => {
    const db = new Database(join(dataDir, 'trove.db'), { readonly: true })
    try {
      const live = db.prepare('SELECT id FROM backups WHERE deleted = 0 AND instance_id = ?').pluck().all(id) as string[]
      const task = db.prepare("SELECT state, step FROM tasks WHERE kind = 'expire_backups'").get() as { state: string; step: string } | undefined
      return { live, task }
    } finally {
      db.close()
    }
  }
  const killed = state()
  t.same(killed.task, { state: 'running', step: 'remove:1' }, 'the task was recorded at its second batch')
  t.equal(killed.live.length, N - 100, 'the first batch (100 backups) was gone, the rest not yet')

  const second = await startServerProcess(t, dataDir)
  t.teardown(() => second.stop())
  await until(async () => state().task?.state === 'done', 'the resumed expiry')
  const after = state()
  t.same(after.live, [`kill-${String(N - 1).padStart(4, '0')}`], 'only the newest automated backup is left (retention count 1)')
  const onDisk = files.filter((f) => existsSync(f))
  t.same(onDisk, [files[N - 1]], 'every other file is gone: no file without its row, no row without its file')
})
