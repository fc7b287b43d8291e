import t from 'tap'
import Database from 'better-sqlite3'
import { randomUUID } from 'node:crypto'
import { migrate } from '../../../src/server/db/index.js'
import { modules } from '../../../src/server/db/modules.js'
import { datastores } from '../../../src/server/db/datastores.js'
import { datastoreVersions } from '../../../src/server/db/datastore-versions.js'
import { moduleNames } from '../../../src/server/modules/catalogue.js'

/**
 * A module list is one statement per page whatever the number of modules (it used to
 * look up the datastore and version names per module: 1 + 2n statements), and the
 * repository prepares its statements once per database.
 */
t.test('a module list is one query, prepared once, with the names of its datastores', async (t) => {
  const executed: string[] = []
  const db = new Database(':memory:', { verbose: (sql) => executed.push(String(sql)) })
  t.teardown(() => db.close())
  db.pragma('foreign_keys = ON')
  migrate(db)
  const dsId = randomUUID()
  const verId = randomUUID()
  datastores(db).insert(dsId, 'mariadb')
  const v = { name: '10.11', manager: 'mariadb', image_id: null, image_tags: '', packages: '', active: 1, bin_dir: null, registry_ext: null, repl_strategy: null }
  datastoreVersions(db).insert({ ...v, id: verId, datastore_id: dsId, version: '10.11.6' })
  const base = { type: 'ping', contents: 'x', description: null, auto_apply: 0, visible: 1, live_update: 0, md5: 'm', priority_apply: 0, apply_order: 5, is_admin: 0 }
  const scopes = [
    { datastore_id: null, datastore_version_id: null },
    { datastore_id: dsId, datastore_version_id: null },
    { datastore_id: dsId, datastore_version_id: verId },
  ]
  for (let i = 0; i < 12; i++) {
    const created = `2026-01-01T00:00:${String(i).padStart(2, '0')}`
    modules(db).insert({ ...base, ...scopes[i % 3], id: randomUUID(), name: `m${i}`, tenant_id: i % 2 ? 'p1' : null, created, updated: created })
  }

  let prepared = 0
  const prepare = db.prepare.bind(db)
  db.prepare = ((sql: string) => {
    prepared++
    return prepare(sql)
  }) as typeof db.prepare

  executed.length = 0
  const all = modules(db).list({ kind: 'any' }, { projectId: 'p2', isAdmin: true })
  t.equal(all.length, 12, 'every module for an admin')
  t.equal(executed.length, 1, 'one statement for the whole page')
  t.same(
    all.slice(0, 3).map((m) => moduleNames(m)),
    [
      { datastore: 'all', datastore_version: 'all' },
      { datastore: 'mariadb', datastore_version: 'all' },
      { datastore: 'mariadb', datastore_version: '10.11' },
    ],
    'names joined in, "all" where the module is for every datastore or version',
  )
  t.same(
    all.map((m) => m.name),
    Array.from({ length: 12 }, (_, i) => `m${i}`),
    'oldest first',
  )

  executed.length = 0
  const member = modules(db).list({ kind: 'datastore', id: dsId }, { projectId: 'p2', isAdmin: false })
  t.same(
    member.map((m) => m.name),
    ['m2', 'm4', 'm8', 'm10'],
    "a member sees the datastore's global modules only (p1's are not its own)",
  )
  t.same(
    modules(db)
      .list({ kind: 'all-datastores' }, { projectId: 'p1', isAdmin: false })
      .map((m) => m.name),
    ['m0', 'm3', 'm6', 'm9'],
    'all-datastores: the modules for every datastore, its own and global',
  )
  t.equal(executed.length, 2, 'one statement per list')
  t.equal(prepared, 0, 'nothing prepared again once the repository exists')
})
