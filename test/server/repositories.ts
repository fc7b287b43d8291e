import t from 'tap'
import { join } from 'node:path'
import { openDatabase, type DB } from '../../src/server/db/index.js'
import { Backups, backupStore } from '../../src/server/db/backups.js'
import { Instances } from '../../src/server/db/instances.js'
import { flavors } from '../../src/server/db/flavors.js'
import { datastoreVersions } from '../../src/server/db/datastore-versions.js'
import { datastores } from '../../src/server/db/datastores.js'
import { configurationStore } from '../../src/server/db/configurations.js'
import { NotificationStore } from '../../src/server/db/notifications.js'
import { rootHistory } from '../../src/server/db/root-history.js'
import { Tasks } from '../../src/server/db/tasks.js'
import { tempDir } from '../helpers/lab.js'

/** Counts the statements a database prepares (better-sqlite3 compiles SQL on every prepare()). */
function counting(db: DB): { readonly n: number } {
  const counter = { n: 0 }
  const prepare = db.prepare.bind(db)
  db.prepare = ((sql: string) => {
    counter.n++
    return prepare(sql)
  }) as DB['prepare']
  return counter
}

t.test('repositories prepare each statement once per database, not per call', async (t) => {
  const db = openDatabase(join(tempDir(t), 'r.db'))
  t.teardown(() => db.close())
  const prepared = counting(db)
  const backups = new Backups(db)
  const instances = new Instances(db)
  const tasks = new Tasks(db)
  const notifications = new NotificationStore(db)
  const calls: Array<[string, () => unknown]> = [
    ['backups.get', () => backups.get('b')],
    ['backups.row', () => backups.row('b')],
    ['backups.running', () => backups.running('i')],
    ['backups.lastCompleted', () => backups.lastCompleted('i')],
    ['backups.list', () => backups.list({ tenantId: 'p' }, 0, 20)],
    ['backups.failRunning', () => backups.failRunning('i')],
    ['backups.update', () => backups.update('b', { state: 'FAILED' }, 5)],
    ['backups.children', () => backups.children('b')],
    ['backups.markDeleted', () => backups.markDeleted('b')],
    ['instances.replicasOf', () => instances.replicasOf('i')],
    ['instances.replicaIds', () => instances.replicaIds('i')],
    ['instances.setSlaveOf', () => instances.setSlaveOf('i', null)],
    ['instances.rename', () => instances.rename('i', 'n')],
    ['instances.setAccess', () => instances.setAccess('i', '{}')],
    ['instances.setFlavor', () => instances.setFlavor('i', '1')],
    ['instances.setVolumeSize', () => instances.setVolumeSize('i', 2)],
    ['instances.setDatastoreVersion', () => instances.setDatastoreVersion('i', 'v')],
    ['instances.lastSent', () => instances.lastSent('i')],
    ['instances.lastReport', () => instances.lastReport('i')],
    ['instances.reconcileRows', () => instances.reconcileRows()],
    ['tasks.running', () => tasks.running('i')],
    ['tasks.running(kind)', () => tasks.running('i', 'create_instance')],
    ['tasks.allRunning', () => tasks.allRunning()],
    ['notifications.launchedAt', () => notifications.launchedAt('i')],
    ['notifications.lastPayload', () => notifications.lastPayload('i', 'dbaas.instance_restart.start')],
    ['notifications.list', () => notifications.list()],
    ['notifications.list(type)', () => notifications.list('trove.instance.create')],
    ['notifications.quotaTenants', () => notifications.quotaTenants()],
    ['flavors.get', () => flavors(db).get('1')],
    ['datastoreVersions.get', () => datastoreVersions(db).get('v')],
    ['datastoreVersions.ofDatastore', () => datastoreVersions(db).ofDatastore('d')],
    ['datastores.nameOf', () => datastores(db).nameOf('d')],
    ['configurations.nameOf', () => configurationStore(db).groups.nameOf('c')],
    ['rootHistory.enabled', () => rootHistory(db).enabled('i')],
    ['rootHistory.everEnabled', () => rootHistory(db).everEnabled('i')],
    ['rootHistory.of', () => rootHistory(db).of('i')],
  ]
  for (const [name, call] of calls) {
    call()
    const before = prepared.n
    call()
    call()
    t.equal(prepared.n - before, 0, `${name}: no statement prepared again`)
  }
})

t.test('one repository per database handle', async (t) => {
  const dir = tempDir(t)
  const a = openDatabase(join(dir, 'a.db'))
  const b = openDatabase(join(dir, 'b.db'))
  t.teardown(() => {
    a.close()
    b.close()
  })
  t.equal(backupStore(a), backupStore(a), 'backupStore: the same repository for the same handle')
  t.not(backupStore(a), backupStore(b), 'backupStore: another for another handle')
  t.equal(flavors(a), flavors(a), 'flavors: the same repository for the same handle')
  t.equal(rootHistory(a), rootHistory(a), 'rootHistory: the same repository for the same handle')
  t.not(rootHistory(a), rootHistory(b), 'rootHistory: another for another handle')
})
