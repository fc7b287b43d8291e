import type { DB } from './index.js'
import { repository } from './repository.js'

/** The datastores table: one per engine family (mysql, mariadb, postgresql, redis). */
export interface DatastoreRow {
  id: string
  name: string
  default_version_id: string | null
}

export class Datastores {
  private readonly s

  constructor(db: DB) {
    this.s = {
      byRef: db.prepare('SELECT * FROM datastores WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1'),
      list: db.prepare('SELECT * FROM datastores ORDER BY name'),
      nameOf: db.prepare('SELECT name FROM datastores WHERE id = ?').pluck(),
      withActiveVersions: db.prepare('SELECT DISTINCT d.name FROM datastores d JOIN datastore_versions v ON v.datastore_id = d.id WHERE v.active = 1').pluck(),
      insert: db.prepare('INSERT INTO datastores (id, name) VALUES (?, ?)'),
      setDefault: db.prepare('UPDATE datastores SET default_version_id = ? WHERE id = ?'),
      delete: db.prepare('DELETE FROM datastores WHERE id = ?'),
    }
  }

  /** A datastore by id or name (the id wins when one datastore's name is another's id). */
  find(ref: string): DatastoreRow | undefined {
    return this.s.byRef.get(ref, ref, ref) as DatastoreRow | undefined
  }

  list(): DatastoreRow[] {
    return this.s.list.all() as DatastoreRow[]
  }

  nameOf(id: string): string | undefined {
    return this.s.nameOf.get(id) as string | undefined
  }

  /** Names of the datastores that have an active version. */
  namesWithActiveVersions(): string[] {
    return this.s.withActiveVersions.all() as string[]
  }

  insert(id: string, name: string): void {
    this.s.insert.run(id, name)
  }

  /** Sets (or with null clears) a datastore's default version. */
  setDefault(id: string, versionId: string | null): void {
    this.s.setDefault.run(versionId, id)
  }

  delete(id: string): void {
    this.s.delete.run(id)
  }
}

export const datastores = repository((db) => new Datastores(db))
