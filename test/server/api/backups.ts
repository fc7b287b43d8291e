import t from 'tap'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { apiLab, backupReadyInstance, missingFields, otherMember, type ApiLab } from '../../helpers/api.js'
import { until } from '../../helpers/scripted-agent.js'
import { sample } from '../../helpers/lab.js'
import { agentEventTopic, encode, type AgentBootstrap, type AgentEvent } from '../../../src/protocol/index.js'
import { Backups } from '../../../src/server/db/backups.js'

let sent = Date.now()
/** An update_backup as the guest sends it (published on the lab's broker in-process). */
function event(lab: ApiLab, id: string, ev: Omit<Extract<AgentEvent, { kind: 'update_backup' }>, 'kind' | 'sent'>): void {
  const msg: AgentEvent = { kind: 'update_backup', sent: ++sent, ...ev }
  lab.server.lab.notifications.bus!.publish({ cmd: 'publish', topic: agentEventTopic(id), payload: encode(msg), qos: 1, retain: false, dup: false } as never, () => {})
}

/** A finished backup file in the store, as a guest leaves it. */
function storeFile(lab: ApiLab, backupId: string, content = 'backup-bytes'): { location: string; checksum: string } {
  const location = join(lab.dataDir, 'backups', `${backupId}.xbstream`)
  writeFileSync(location, content)
  return { location, checksum: createHash('md5').update(content).digest('hex') }
}

t.test('create, progress, completion: the upstream contract, BACKUP status, notifications', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const { id, casts, show } = await backupReadyInstance(t, lab, 'src')
  const body = sample('backup-create-request.json') as { backup: Record<string, unknown> }
  body.backup.instance = id
  const r = await lab.req('POST', `${p}/backups`, { body })
  t.equal(r.status, 202, 'the upstream sample is accepted')
  const b = r.body.backup
  t.same(
    Object.keys(b),
    ['id', 'name', 'description', 'locationRef', 'instance_id', 'created', 'updated', 'size', 'status', 'parent_id', 'project_id', 'datastore', 'automated'],
    'upstream key order, then the lab extension automated',
  )
  const expected = sample('backup-create-response.json') as { backup: Record<string, unknown> }
  delete expected.backup.storage_driver // api.md 11: the code's view has none
  t.same(missingFields(r.body, expected), [], 'every field of the sample')
  t.match(b, {
    name: 'snapshot',
    description: 'My Backup',
    status: 'NEW',
    locationRef: null,
    size: null,
    parent_id: null,
    instance_id: id,
    project_id: lab.demo.project,
    datastore: { type: 'mariadb' },
  })

  t.equal((await show()).status, 'BACKUP', 'instance status BACKUP while the backup runs')
  t.match((await show()).operating_status, 'HEALTHY', 'operating status unchanged')
  t.same(
    (await lab.req('POST', `${p}/instances/${id}/action`, { body: { restart: {} } })).body,
    { unprocessableEntity: { code: 422, message: `Instance ${id} is not currently available for an action to be performed (instance status was BACKUP).` } },
    'other actions refused meanwhile',
  )
  t.equal((await lab.req('POST', `${p}/backups`, { body: { backup: { name: 'second', instance: id } } })).status, 422, 'no second backup meanwhile')
  t.equal((await lab.req('DELETE', `${p}/backups/${b.id}`)).body.unprocessableEntity.message, `Backup ${b.id} cannot be deleted because it is running.`, 'a running backup is not deleted')

  await until(() => casts.length === 1, 5000, 'create_backup cast')
  t.match(
    casts[0],
    { method: 'create_backup', reply: false, args: { backup_info: { id: b.id, name: 'snapshot', instance_id: id, backup_type: 'full', parent: null, datastore: 'mariadb' } } },
    'a cast with upstream backup_info',
  )
  event(lab, id, { backupId: b.id, state: 'BUILDING' })
  await until(async () => (await lab.req('GET', `${p}/backups/${b.id}`)).body.backup.status === 'BUILDING', 5000, 'BUILDING')
  event(lab, 'another-instance', { backupId: b.id, state: 'FAILED', message: 'x' })
  const file = storeFile(lab, b.id)
  event(lab, id, { backupId: b.id, state: 'COMPLETED', size: 0.14, ...file })
  await until(async () => (await lab.req('GET', `${p}/backups/${b.id}`)).body.backup.status === 'COMPLETED', 5000, 'COMPLETED')
  const got = (await lab.req('GET', `${p}/backups/${b.id}`)).body
  t.same(
    missingFields(got, sample('backup-get-response.json')).filter((f) => f !== '.backup.storage_driver'),
    [],
    'GET has the sample fields',
  )
  t.match(got.backup, { status: 'COMPLETED', size: 0.14, locationRef: file.location }, 'size and location from the guest; an event from another instance was ignored')
  await until(async () => (await show()).status === 'ACTIVE', 5000, 'ACTIVE again')
  const types = lab.server.lab.notifications
    .list()
    .map((n) => n.event_type)
    .filter((e) => e.startsWith('dbaas.backup'))
  t.same(types, ['dbaas.backup_create.start', 'dbaas.backup_create.end'], 'backup_create start and end')
  t.match(lab.server.lab.notifications.list('dbaas.backup_create.end')[0]!.payload, { backup_id: b.id, instance_id: id, name: 'snapshot' })

  // An incremental: chained to the last COMPLETED backup; the guest gets the parent's location.
  const inc = (await lab.req('POST', `${p}/backups`, { body: { backup: { name: 'inc', instance: id, incremental: 1 } } })).body.backup
  t.equal(inc.parent_id, b.id, 'incremental: 1 chains to the last completed backup')
  await until(() => casts.length === 2, 5000, 'second cast')
  t.match(casts[1]!.args, { backup_info: { backup_type: 'incremental', parent: { id: b.id, location: file.location, checksum: file.checksum } } })
  event(lab, id, { backupId: inc.id, state: 'FAILED', message: 'mariadb-backup --backup failed: disk full' })
  await until(async () => (await lab.req('GET', `${p}/backups/${inc.id}`)).body.backup.status === 'FAILED', 5000, 'FAILED')
  await until(() => lab.server.lab.notifications.list('dbaas.backup_create.error').length === 1, 5000, 'error notification')
  t.match(lab.server.lab.notifications.list('dbaas.backup_create.error')[0]!.payload, { message: 'mariadb-backup --backup failed: disk full', backup_id: inc.id })

  // A COMPLETED naming a file outside the store is not believed.
  const evil = (await lab.req('POST', `${p}/backups`, { body: { backup: { name: 'evil', instance: id } } })).body.backup
  await until(() => casts.length === 3, 5000, 'third cast')
  event(lab, id, { backupId: evil.id, state: 'COMPLETED', location: '/etc/shadow', checksum: 'a'.repeat(32), size: 1 })
  await until(async () => (await lab.req('GET', `${p}/backups/${evil.id}`)).body.backup.status === 'FAILED', 5000, 'FAILED')
})

t.test('validation and faults', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const { id } = await backupReadyInstance(t, lab, 'v')
  const redis = await backupReadyInstance(t, lab, 'r', 'redis')
  const post = async (backup: unknown) => await lab.req('POST', `${p}/backups`, { body: { backup } })
  t.same((await post({ name: 'x' })).body, { badRequest: { code: 400, message: 'instance is missing.' } })
  t.match((await post({ name: '', instance: id })).body, { badRequest: { message: /^Validation error: backup\['name'\] '' is too short/ } })
  t.match((await post({ name: 'x', instance: 'not-a-uuid' })).body, { badRequest: { message: /^Validation error: backup\['instance'\]/ } })
  t.match((await post({ name: 'x', instance: id, incremental: 2 })).body, { badRequest: { message: /is greater than the maximum of 1/ } })
  t.equal((await post({ name: 'x', instance: '00000000-0000-0000-0000-000000000000' })).status, 404, 'unknown instance: 404')
  t.same(
    (await post({ name: 'x', instance: id, parent_id: '00000000-0000-0000-0000-000000000000' })).body,
    { itemNotFound: { code: 404, message: 'Resource 00000000-0000-0000-0000-000000000000 cannot be found.' } },
    'unknown parent: 404',
  )
  t.match(
    (await post({ name: 'x', instance: redis.id, incremental: 1 })).body,
    { badRequest: { code: 400, message: /Incremental backups are not supported by datastore redis/ } },
    'redis has no incrementals: 400',
  )
  t.equal((await post({ name: 'x', restore_from: { remote_location: 'http://x/y', local_datastore_version_id: '00000000-0000-0000-0000-000000000000', size: 1 } })).status, 501, 'restore_from: 501')
  t.equal((await lab.req('GET', `${p}/backups/00000000-0000-0000-0000-000000000000`)).status, 404)
  t.equal((await lab.req('GET', `${p}/backups?datastore=nope`)).status, 404, 'unknown datastore filter: 404')
  t.equal((await lab.req('GET', `${p}/backups?marker=abc`)).status, 400, 'a marker is an offset')

  // reset_status fails running backups (internals.md 3.4).
  const b = (await post({ name: 'running', instance: id })).body.backup
  const admin = `/v1.0/${lab.admin.project}`
  t.equal((await lab.req('POST', `${admin}/instances/${id}/action`, { body: { reset_status: {} }, token: lab.admin.token })).status, 202)
  t.equal((await lab.req('GET', `${p}/backups/${b.id}`)).body.backup.status, 'FAILED', 'reset_status: running backup FAILED')
})

t.test('isolation, admin listing, quota, pagination, delete with children, restore checks', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const { id } = await backupReadyInstance(t, lab, 'iso')
  const db = new Backups(lab.server.lab.db)
  const dsv = lab.server.lab.instances.get(id)!.datastore_version_id
  const made: string[] = []
  for (let i = 0; i < 5; i++) {
    const bid = `00000000-0000-0000-0000-00000000000${i}`
    db.insert({
      id: bid,
      name: `b${i}`,
      description: null,
      tenant_id: lab.demo.project,
      instance_id: id,
      parent_id: i === 4 ? made[3]! : null,
      datastore_version_id: dsv,
      backup_type: 'full',
      storage_driver: 'local',
    })
    const f = storeFile(lab, bid, `data-${i}`)
    db.update(bid, { state: 'COMPLETED', ...f, size: 0.01 })
    made.push(bid)
  }
  const page1 = (await lab.req('GET', `${p}/backups?limit=2`)).body
  t.equal(page1.backups.length, 2)
  t.match(page1.links[0], { rel: 'next', href: /marker=2/ }, 'next marker = offset + limit')
  const page3 = (await lab.req('GET', `${p}/backups?limit=2&marker=4`)).body
  t.equal(page3.backups.length, 1)
  t.notOk(page3.links, 'no next link on a short page')
  t.equal((await lab.req('GET', `${p}/instances/${id}/backups`)).body.backups.length, 5, 'instance backups')
  t.same(missingFields((await lab.req('GET', `${p}/instances/${id}/backups`)).body, sample('instance-backup-list-response.json')), [], 'instance backup list has the sample fields')
  t.same(
    missingFields((await lab.req('GET', `${p}/backups`)).body, sample('backup-list-response.json')).filter((f) => !f.endsWith('storage_driver')),
    [],
    'list has the sample fields',
  )
  t.equal((await lab.req('GET', `${p}/backups?datastore=mariadb`)).body.backups.length, 5, 'datastore filter')
  t.equal((await lab.req('GET', `${p}/backups?datastore=postgresql`)).body.backups.length, 0)

  const other = otherMember(lab)
  const o = `/v1.0/${other.project}`
  t.equal((await lab.req('GET', `${o}/backups/${made[0]}`, { token: other.token })).status, 404, 'another project: 404')
  t.same((await lab.req('GET', `${o}/backups`, { token: other.token })).body.backups, [], 'another project lists none')
  t.equal((await lab.req('DELETE', `${o}/backups/${made[0]}`, { token: other.token })).status, 404)
  t.equal((await lab.req('GET', `${o}/backups?all_projects=true`, { token: other.token })).status, 403, 'all_projects: admins only')
  const a = `/v1.0/${lab.admin.project}`
  t.equal((await lab.req('GET', `${a}/backups?all_projects=true`, { token: lab.admin.token })).body.backups.length, 5, 'admin: every project')
  t.equal((await lab.req('GET', `${a}/backups/${made[0]}`, { token: lab.admin.token })).status, 200, 'admin reaches any backup by id')

  // Restore checks (api.md 6.2).
  const restore = (backupRef: string, datastore?: object) =>
    lab.req('POST', `${p}/instances`, { body: { instance: { name: 'rest', flavorRef: '1', volume: { size: 1 }, restorePoint: { backupRef }, ...(datastore ? { datastore } : {}) } } })
  t.same(
    (await restore(made[0]!, { type: 'postgresql' })).body,
    { badRequest: { code: 400, message: 'The datastore from which the backup was taken, mariadb, does not match the destination datastore of postgresql.' } },
    'another datastore: 400',
  )
  db.insert({
    id: '10000000-0000-0000-0000-000000000000',
    name: 'new',
    description: null,
    tenant_id: lab.demo.project,
    instance_id: id,
    parent_id: null,
    datastore_version_id: dsv,
    backup_type: 'full',
    storage_driver: 'local',
  })
  t.same(
    (await restore('10000000-0000-0000-0000-000000000000')).body,
    { conflict: { code: 409, message: 'Unable to create instance because backup 10000000-0000-0000-0000-000000000000 is not completed. Actual state: NEW.' } },
    'not completed: 409',
  )
  db.update('10000000-0000-0000-0000-000000000000', { state: 'FAILED' })
  const ok = await restore(made[4]!)
  t.equal(ok.status, 200, "a restore of an incremental without a datastore: the backup's")
  const boot = JSON.parse(readFileSync(join(lab.dataDir, 'instances', ok.body.instance.id, 'agent.json'), 'utf8')) as AgentBootstrap
  t.same(
    boot.prepare.restore?.chain.map((c) => [c.id, c.type]),
    [
      [made[3], 'full'],
      [made[4], 'incremental'],
    ],
    'prepare.restore: the chain, oldest first',
  )
  t.equal(boot.backupDir, join(lab.dataDir, 'backups'), 'the agent knows the store')
  t.match(ok.body.instance.datastore, { type: 'mariadb' })

  // Delete: the children go first; quota usage follows.
  lab.server.lab.quotas.setLimits(lab.demo.project, { backups: 0 })
  t.equal((await lab.req('POST', `${p}/backups`, { body: { backup: { name: 'over', instance: id } } })).status, 413, 'backups quota: 413 overLimit')
  t.equal((await lab.req('DELETE', `${p}/backups/${made[3]}`)).status, 202)
  t.equal((await lab.req('GET', `${p}/backups/${made[3]}`)).status, 404, 'deleted')
  t.equal((await lab.req('GET', `${p}/backups/${made[4]}`)).status, 404, 'its incremental child deleted with it')
  t.notOk(existsSync(join(lab.dataDir, 'backups', `${made[4]}.xbstream`)), 'the files removed from the store')
  const notes = lab.server.lab.notifications.list().map((n) => n.event_type)
  t.ok(notes.includes('dbaas.backup_delete.start') && notes.includes('dbaas.backup_delete.end'), 'backup_delete notifications')
})
