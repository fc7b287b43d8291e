import type { DB } from './index.js'
import { DATASTORE_VERSION_REFERENCES, type VersionReference } from './migrations/references.js'
import { repository } from './repository.js'

/** The datastore_versions table. */
export interface VersionRow {
  id: string
  datastore_id: string
  name: string
  manager: string
  version: string
  image_id: string | null
  image_tags: string
  packages: string
  active: number
  bin_dir: string | null
  registry_ext: string | null
  repl_strategy: string | null
}

/** A version with its datastore's name and default (the mgmt API's view). */
export interface MgmtVersionRow extends VersionRow {
  datastore_name: string
  default_version_id: string | null
}

/** The columns an admin writes (create and update). */
export interface VersionFieldsRow {
  name: string
  manager: string
  image_id: string | null
  image_tags: string
  packages: string
  active: number
  bin_dir: string | null
  registry_ext: string | null
  repl_strategy: string | null
}

const SELECT_MGMT = 'SELECT v.*, d.name AS datastore_name, d.default_version_id FROM datastore_versions v JOIN datastores d ON d.id = v.datastore_id'
const quoted = (name: string) => `"${name.replace(/"/g, '""')}"`

/** The statements that look at (and let go of) one referencing table's rows. */
interface ReferenceStatements {
  ref: VersionReference
  live: ReturnType<DB['prepare']>
  any: ReturnType<DB['prepare']>
  release: ReturnType<DB['prepare']> | undefined
}

export class DatastoreVersions {
  private readonly s
  private readonly refs: ReferenceStatements[]

  constructor(db: DB) {
    this.s = {
      get: db.prepare('SELECT * FROM datastore_versions WHERE id = ?'),
      ofDatastore: db.prepare('SELECT * FROM datastore_versions WHERE datastore_id = ? ORDER BY name'),
      activeOfDatastore: db.prepare('SELECT * FROM datastore_versions WHERE datastore_id = ? AND active = 1 ORDER BY name'),
      anyOfDatastore: db.prepare('SELECT 1 FROM datastore_versions WHERE datastore_id = ? LIMIT 1'),
      managers: db.prepare('SELECT id, manager FROM datastore_versions'),
      nameOf: db.prepare('SELECT name FROM datastore_versions WHERE id = ?').pluck(),
      datastoreOf: db.prepare('SELECT datastore_id FROM datastore_versions WHERE id = ?').pluck(),
      mgmtGet: db.prepare(`${SELECT_MGMT} WHERE v.id = ?`),
      mgmtList: db.prepare(`${SELECT_MGMT} ORDER BY d.name, v.name`),
      nameTaken: db.prepare('SELECT version FROM datastore_versions WHERE datastore_id = ? AND name = ? AND id IS NOT ?'),
      insert: db.prepare(`INSERT INTO datastore_versions (id, datastore_id, name, manager, version, image_id, image_tags, packages, active, bin_dir, registry_ext, repl_strategy)
        VALUES (@id, @datastore_id, @name, @manager, @version, @image_id, @image_tags, @packages, @active, @bin_dir, @registry_ext, @repl_strategy)`),
      update: db.prepare(`UPDATE datastore_versions SET name = @name, manager = @manager, image_id = @image_id, image_tags = @image_tags, packages = @packages,
        active = @active, bin_dir = @bin_dir, registry_ext = @registry_ext, repl_strategy = @repl_strategy WHERE id = @id`),
      delete: db.prepare('DELETE FROM datastore_versions WHERE id = ?'),
    }
    // One set per declared table, prepared here once: table names come from the declaration, never from a request.
    this.refs = DATASTORE_VERSION_REFERENCES.map((ref) => {
      const t = quoted(ref.table)
      const c = quoted(ref.column)
      let release: ReturnType<DB['prepare']> | undefined
      if (ref.softDeleted && ref.nullable) release = db.prepare(`UPDATE ${t} SET ${c} = NULL WHERE ${c} = ? AND deleted = 1`)
      else if (ref.owned) release = db.prepare(`DELETE FROM ${t} WHERE ${c} = ?`)
      return {
        ref,
        live: db.prepare(`SELECT 1 FROM ${t} WHERE ${c} = ?${ref.softDeleted ? ' AND deleted = 0' : ''} LIMIT 1`),
        any: db.prepare(`SELECT 1 FROM ${t} WHERE ${c} = ? LIMIT 1`),
        release,
      }
    })
  }

  get(id: string): VersionRow | undefined {
    return this.s.get.get(id) as VersionRow | undefined
  }

  /** A datastore's versions by name (only the active ones with `activeOnly`). */
  ofDatastore(datastoreId: string, activeOnly = false): VersionRow[] {
    return (activeOnly ? this.s.activeOfDatastore : this.s.ofDatastore).all(datastoreId) as VersionRow[]
  }

  /** Does the datastore have any version (active or not)? */
  anyOfDatastore(datastoreId: string): boolean {
    return this.s.anyOfDatastore.get(datastoreId) !== undefined
  }

  /** Every version's id and manager (parameter seeding). */
  managers(): Array<{ id: string; manager: string }> {
    return this.s.managers.all() as Array<{ id: string; manager: string }>
  }

  nameOf(id: string): string | undefined {
    return this.s.nameOf.get(id) as string | undefined
  }

  datastoreOf(id: string): string | undefined {
    return this.s.datastoreOf.get(id) as string | undefined
  }

  mgmtGet(id: string): MgmtVersionRow | undefined {
    return this.s.mgmtGet.get(id) as MgmtVersionRow | undefined
  }

  mgmtList(): MgmtVersionRow[] {
    return this.s.mgmtList.all() as MgmtVersionRow[]
  }

  /** Another version of the datastore with this name (its version number), if any. */
  nameTaken(datastoreId: string, name: string, except?: string): { version: string } | undefined {
    return this.s.nameTaken.get(datastoreId, name, except ?? null) as { version: string } | undefined
  }

  insert(row: VersionFieldsRow & { id: string; datastore_id: string; version: string }): void {
    this.s.insert.run(row)
  }

  update(id: string, row: VersionFieldsRow): void {
    this.s.update.run({ ...row, id })
  }

  delete(id: string): void {
    this.s.delete.run(id)
  }

  /** Does a live (not deleted) row of the referencing table point at the version? */
  usedBy(ref: VersionReference, id: string): boolean {
    return this.refStatements(ref).live.get(id) !== undefined
  }

  /** Does any row of the table, deleted or not, point at it? */
  referencedBy(ref: VersionReference, id: string): boolean {
    return this.refStatements(ref).any.get(id) !== undefined
  }

  /** Lets go of the version: deleted rows forget it (nullable columns), owned rows are deleted. */
  release(ref: VersionReference, id: string): void {
    this.refStatements(ref).release?.run(id)
  }

  private refStatements(ref: VersionReference): ReferenceStatements {
    const r = this.refs.find((x) => x.ref === ref)
    if (!r) throw new Error(`${ref.table}.${ref.column} is not a declared datastore version reference`)
    return r
  }
}

export const datastoreVersions = repository((db) => new DatastoreVersions(db))
