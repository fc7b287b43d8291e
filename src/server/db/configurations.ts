import { randomUUID } from 'node:crypto'
import type { DB } from './index.js'
import { isoNow } from './index.js'
import { repository } from './repository.js'
import { InstanceTask } from '../tasks/instance-tasks.js'

export interface ConfigurationRow {
  id: string
  name: string
  description: string | null
  tenant_id: string
  datastore_version_id: string
  created: string
  updated: string
  deleted: number
  deleted_at: string | null
}

/** A group with what its views need: datastore name, version name and number, manager. */
export interface ConfigurationJoined extends ConfigurationRow {
  ds_name: string
  dsv_name: string
  dsv_version: string
  dsv_manager: string
}

/** One stored value: the text of what was given (see m003). */
export interface ConfigurationValueRow {
  configuration_key: string
  configuration_value: string
}

/** A parameter a datastore version accepts (upstream's datastore_configuration_parameters). */
export interface ParameterRow {
  id: string
  name: string
  datastore_version_id: string
  restart_required: number
  max_size: string | null
  min_size: string | null
  data_type: string
  deleted: number
  deleted_at: string | null
  origin: 'rules' | 'admin'
}

/** What an admin (or the shipped rules) says about a parameter. */
export interface ParameterSpec {
  name: string
  restart_required: boolean
  data_type: string
  max_size: string | null
  min_size: string | null
}

const JOINED = `
SELECT c.*, d.name AS ds_name, v.name AS dsv_name, v.version AS dsv_version, v.manager AS dsv_manager
FROM configurations c
JOIN datastore_versions v ON v.id = c.datastore_version_id
JOIN datastores d ON d.id = v.datastore_id`

// An instance being deleted no longer uses its group: upstream clears configuration_id
// when the deletion starts, so the group can be deleted right away (transcript 57-58).
const USING = `configuration_id = ? AND deleted = 0 AND task_id != ${InstanceTask.DELETING.id}`

/** Prepared statements of configuration groups and their values. */
export class ConfigurationGroups {
  private readonly s

  constructor(private readonly db: DB) {
    this.s = {
      get: db.prepare(`${JOINED} WHERE c.id = ? AND c.deleted = 0`),
      nameOf: db.prepare('SELECT name FROM configurations WHERE id = ?').pluck(),
      listTenant: db.prepare(`${JOINED} WHERE c.tenant_id = ? AND c.deleted = 0 AND c.id > ? ORDER BY c.id LIMIT ?`),
      listAll: db.prepare(`${JOINED} WHERE c.deleted = 0 AND c.id > ? ORDER BY c.id LIMIT ?`),
      insert: db.prepare(`INSERT INTO configurations (id, name, description, tenant_id, datastore_version_id, created, updated)
        VALUES (@id, @name, @description, @tenant_id, @datastore_version_id, @created, @updated)`),
      rename: db.prepare('UPDATE configurations SET name = ?, description = ?, updated = ? WHERE id = ?'),
      touch: db.prepare('UPDATE configurations SET updated = ? WHERE id = ?'),
      markDeleted: db.prepare('UPDATE configurations SET deleted = 1, deleted_at = ?, updated = ? WHERE id = ?'),
      values: db.prepare('SELECT configuration_key, configuration_value FROM configuration_parameters WHERE configuration_id = ? AND deleted = 0 ORDER BY configuration_key'),
      putValue: db.prepare(`INSERT INTO configuration_parameters (configuration_id, configuration_key, configuration_value, deleted, deleted_at)
        VALUES (?, ?, ?, 0, NULL)
        ON CONFLICT (configuration_id, configuration_key) DO UPDATE SET configuration_value = excluded.configuration_value, deleted = 0, deleted_at = NULL`),
      dropValues: db.prepare('UPDATE configuration_parameters SET deleted = 1, deleted_at = ? WHERE configuration_id = ? AND deleted = 0'),
      instances: db.prepare(`SELECT id, name FROM instances WHERE ${USING} AND id > ? ORDER BY id LIMIT ?`),
      countInstances: db.prepare(`SELECT COUNT(*) FROM instances WHERE ${USING}`).pluck(),
      attachedTo: db.prepare('SELECT configuration_id FROM instances WHERE id = ?').pluck(),
      setAttached: db.prepare('UPDATE instances SET configuration_id = ?, updated = ? WHERE id = ?'),
    }
  }

  get(id: string): ConfigurationJoined | undefined {
    return this.s.get.get(id) as ConfigurationJoined | undefined
  }

  /** A group's name, deleted or not (an instance view names the group it had). */
  nameOf(id: string): string | undefined {
    return this.s.nameOf.get(id) as string | undefined
  }

  /** One page of groups, ids ascending after `marker`: a project's, or every project's (tenantId null). */
  list(tenantId: string | null, marker: string, limit: number): ConfigurationJoined[] {
    return (tenantId === null ? this.s.listAll.all(marker, limit) : this.s.listTenant.all(tenantId, marker, limit)) as ConfigurationJoined[]
  }

  /** A new group with its values, in one transaction; returns its id. */
  create(row: { name: string; description: string | null; tenant_id: string; datastore_version_id: string }, values: Array<[string, string]>): string {
    const id = randomUUID()
    const now = isoNow()
    this.db.transaction(() => {
      this.s.insert.run({ ...row, id, created: now, updated: now })
      for (const [k, v] of values) this.s.putValue.run(id, k, v)
    })()
    return id
  }

  /** PUT: name/description as given (unchanged when absent), and exactly these values. */
  replace(id: string, o: { name: string; description: string | null }, values: Array<[string, string]>): void {
    const now = isoNow()
    this.db.transaction(() => {
      this.s.rename.run(o.name, o.description, now, id)
      this.s.dropValues.run(now, id)
      for (const [k, v] of values) this.s.putValue.run(id, k, v)
    })()
  }

  /** PATCH: these values added or overwritten, the others kept. */
  merge(id: string, values: Array<[string, string]>): void {
    this.db.transaction(() => {
      this.s.touch.run(isoNow(), id)
      for (const [k, v] of values) this.s.putValue.run(id, k, v)
    })()
  }

  delete(id: string): void {
    const now = isoNow()
    this.db.transaction(() => {
      this.s.dropValues.run(now, id)
      this.s.markDeleted.run(now, now, id)
    })()
  }

  /** The live values of a group, by key. */
  values(id: string): ConfigurationValueRow[] {
    return this.s.values.all(id) as ConfigurationValueRow[]
  }

  /** One page of the live instances using a group, ids ascending after `marker`. */
  instancesUsing(id: string, marker: string, limit: number): Array<{ id: string; name: string }> {
    return this.s.instances.all(id, marker, limit) as Array<{ id: string; name: string }>
  }

  countInstancesUsing(id: string): number {
    return this.s.countInstances.get(id) as number
  }

  /** The group attached to an instance (its configuration_id), or null. */
  attachedTo(instanceId: string): string | null {
    return (this.s.attachedTo.get(instanceId) as string | null | undefined) ?? null
  }

  /** Records the group attached to an instance (null: none). */
  setAttached(instanceId: string, groupId: string | null): void {
    this.s.setAttached.run(groupId, isoNow(), instanceId)
  }
}

/** Prepared statements of the parameters each datastore version accepts. */
export class DatastoreParameters {
  private readonly s

  constructor(db: DB) {
    this.s = {
      list: db.prepare('SELECT * FROM datastore_configuration_parameters WHERE datastore_version_id = ? AND deleted = 0 ORDER BY name'),
      any: db.prepare('SELECT * FROM datastore_configuration_parameters WHERE datastore_version_id = ? AND name = ?'),
      insert: db.prepare(`INSERT INTO datastore_configuration_parameters (id, name, datastore_version_id, restart_required, max_size, min_size, data_type, origin)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      update: db.prepare(`UPDATE datastore_configuration_parameters SET restart_required = ?, max_size = ?, min_size = ?, data_type = ?,
        deleted = 0, deleted_at = NULL, origin = ? WHERE id = ?`),
      markDeleted: db.prepare('UPDATE datastore_configuration_parameters SET deleted = 1, deleted_at = ?, origin = ? WHERE id = ?'),
      ofOrigin: db.prepare('SELECT * FROM datastore_configuration_parameters WHERE datastore_version_id = ? AND origin = ?'),
    }
  }

  /** The live parameters of a version, by name. */
  list(versionId: string): ParameterRow[] {
    return this.s.list.all(versionId) as ParameterRow[]
  }

  /** A live parameter by its exact name. */
  get(versionId: string, name: string): ParameterRow | undefined {
    const p = this.s.any.get(versionId, name) as ParameterRow | undefined
    return p && !p.deleted ? p : undefined
  }

  /**
   * An admin's new parameter: 'exists' when a live one has that name; a deleted one
   * is brought back with the new attributes (upstream's create).
   */
  create(versionId: string, spec: ParameterSpec): ParameterRow | 'exists' {
    const old = this.s.any.get(versionId, spec.name) as ParameterRow | undefined
    if (old && !old.deleted) return 'exists'
    return this.write(versionId, spec, 'admin', old)
  }

  /** An admin's change of a live parameter; undefined when there is none. */
  update(versionId: string, spec: ParameterSpec): ParameterRow | undefined {
    const old = this.get(versionId, spec.name)
    return old ? this.write(versionId, spec, 'admin', old) : undefined
  }

  /** Soft-deletes a live parameter (upstream keeps the row); false when there is none. */
  delete(versionId: string, name: string, origin: 'rules' | 'admin' = 'admin'): boolean {
    const p = this.get(versionId, name)
    if (!p) return false
    this.s.markDeleted.run(isoNow(), origin, p.id)
    return true
  }

  /**
   * Brings a version's rows in line with shipped rules: missing ones are added, rows
   * still as the rules made them follow the rules, rules that are gone are deleted.
   * Rows an admin created, changed or deleted are left alone. Returns the rows written.
   */
  syncRules(versionId: string, rules: ParameterSpec[]): number {
    let written = 0
    const mine = new Map((this.s.ofOrigin.all(versionId, 'rules') as ParameterRow[]).map((p) => [p.name, p]))
    for (const r of rules) {
      const old = mine.get(r.name) ?? (this.s.any.get(versionId, r.name) as ParameterRow | undefined)
      mine.delete(r.name)
      if (old && old.origin !== 'rules') continue
      if (old && !old.deleted && old.restart_required === Number(r.restart_required) && old.data_type === r.data_type && old.max_size === r.max_size && old.min_size === r.min_size) continue
      this.write(versionId, r, 'rules', old)
      written++
    }
    for (const gone of mine.values()) {
      if (gone.deleted) continue
      this.s.markDeleted.run(isoNow(), 'rules', gone.id)
      written++
    }
    return written
  }

  private write(versionId: string, spec: ParameterSpec, origin: 'rules' | 'admin', old: ParameterRow | undefined): ParameterRow {
    if (old) {
      this.s.update.run(Number(spec.restart_required), spec.max_size, spec.min_size, spec.data_type, origin, old.id)
    } else {
      this.s.insert.run(randomUUID(), spec.name, versionId, Number(spec.restart_required), spec.max_size, spec.min_size, spec.data_type, origin)
    }
    return this.s.any.get(versionId, spec.name) as ParameterRow
  }
}

/** The statements of one database, prepared once and shared by the route modules. */
export const configurationStore = repository((db: DB) => ({ groups: new ConfigurationGroups(db), parameters: new DatastoreParameters(db) }))
