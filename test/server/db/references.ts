import t from 'tap'
import Database from 'better-sqlite3'
import { migrate } from '../../../src/server/db/index.js'
import { DATASTORE_VERSION_REFERENCES } from '../../../src/server/db/migrations/references.js'

/**
 * The declaration of the tables that point at a datastore version (which deleting a
 * version consults) against what the migrated schema says: every foreign key to
 * datastore_versions, and every column named like one, must be declared, with the
 * right nullability and soft-delete column, in the order the tables were created.
 */
t.test('the declared datastore version references are the schema', async (t) => {
  const db = new Database(':memory:')
  t.teardown(() => db.close())
  db.pragma('foreign_keys = ON')
  migrate(db)
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid").pluck().all() as string[]
  const found: Array<{ table: string; column: string; softDeleted: boolean; nullable: boolean }> = []
  for (const table of tables) {
    const cols = db.prepare('SELECT name, "notnull" FROM pragma_table_info(?)').all(table) as Array<{ name: string; notnull: number }>
    const fks = db.prepare('SELECT "from", "table" FROM pragma_foreign_key_list(?)').all(table) as Array<{ from: string; table: string }>
    const refCols = new Set([...fks.filter((f) => f.table === 'datastore_versions').map((f) => f.from), ...cols.filter((c) => c.name === 'datastore_version_id').map((c) => c.name)])
    if (table === 'datastore_versions') continue
    for (const column of refCols) {
      const col = cols.find((c) => c.name === column)!
      found.push({ table, column, softDeleted: cols.some((c) => c.name === 'deleted'), nullable: col.notnull === 0 })
    }
  }
  t.ok(found.length >= 5, `the schema has references to look at (${found.map((f) => f.table).join(', ')})`)
  t.same(
    DATASTORE_VERSION_REFERENCES.map((r) => ({ table: r.table, column: r.column, softDeleted: r.softDeleted, nullable: r.nullable })),
    found,
    'every table pointing at datastore_versions is declared, as the schema has it, in creation order',
  )
  for (const r of DATASTORE_VERSION_REFERENCES) t.ok(!(r.owned && r.resource), `${r.table}: owned rows are not users of the version`)
})
