import { randomUUID } from 'node:crypto'
import type { DetectedEngine } from '../compute/engines.js'
import { installedEngineFor } from '../compute/engine-match.js'
import type { DB } from './index.js'
import { settings } from './settings.js'

/**
 * What start-up registration remembers between runs (one JSON value in `settings`):
 *  - versions: engine key ("redis/7.0") -> id of the version row registered for it.
 *    A key that is known but whose row is gone was deleted by an admin: it is not
 *    registered again (an admin who wants it back creates it with the mgmt API).
 *  - parked: ids of versions registration deactivated because no installed engine
 *    can run them. Only these are reactivated when their engine comes back; a
 *    version an admin deactivated stays inactive.
 */
interface RegistryState {
  versions: Record<string, string>
  parked: string[]
}

const STATE_KEY = 'datastore_registry'

function loadState(db: DB): RegistryState | undefined {
  const raw = settings(db).get(STATE_KEY)
  if (!raw) return undefined
  try {
    const v = JSON.parse(raw) as Partial<RegistryState>
    return { versions: v.versions ?? {}, parked: v.parked ?? [] }
  } catch {
    return undefined
  }
}

function saveState(db: DB, s: RegistryState): void {
  settings(db).put(STATE_KEY, JSON.stringify(s))
}

interface VersionRow {
  id: string
  datastore_id: string
  manager: string
  version: string
  active: number
  bin_dir: string | null
}

/**
 * Offers what is installed without undoing what an admin changed (api.md 7.6):
 * a new engine version gets a datastore (created when missing) and an active
 * version; a version registered before only gets its version number and binary
 * location refreshed (an apt upgrade changes them). Names, managers, packages,
 * images, `active` and defaults set through the mgmt API are left alone, with one
 * exception: a version no installed engine can run is deactivated (instances of
 * it could not start) and reactivated when its engine is back.
 */
export function registerEngines(db: DB, engines: DetectedEngine[]): void {
  db.transaction(() => {
    const previous = loadState(db)
    // A database from before this registry: every version in it was registered (and,
    // when inactive, deactivated) by start-up registration, as there was no mgmt API.
    const legacy = previous === undefined
    const state: RegistryState = previous ?? {
      versions: {},
      parked: db.prepare('SELECT id FROM datastore_versions WHERE active = 0').pluck().all() as string[],
    }
    const parked = new Set(state.parked)
    const fresh = new Set<string>() // datastores that got a new version in this run

    for (const e of engines) {
      const key = `${e.datastore}/${e.name}`
      const known = state.versions[key]
      if (known) {
        db.prepare('UPDATE datastore_versions SET version = ? WHERE id = ?').run(e.version, known)
        continue
      }
      let ds = db.prepare('SELECT id FROM datastores WHERE name = ?').get(e.datastore) as { id: string } | undefined
      if (!ds) {
        ds = { id: randomUUID() }
        db.prepare('INSERT INTO datastores (id, name) VALUES (?, ?)').run(ds.id, e.datastore)
      }
      let v = db.prepare('SELECT id FROM datastore_versions WHERE datastore_id = ? AND name = ?').get(ds.id, e.name) as { id: string } | undefined
      if (v) {
        // Adopted: a legacy row is activated as the old registration did; a row an admin
        // created under this name beforehand keeps the admin's `active`.
        db.prepare(`UPDATE datastore_versions SET version = ?${legacy ? ', active = 1' : ''} WHERE id = ?`).run(e.version, v.id)
        if (legacy) parked.delete(v.id)
      } else {
        v = { id: randomUUID() }
        db.prepare('INSERT INTO datastore_versions (id, datastore_id, name, manager, version, packages, active, bin_dir) VALUES (?, ?, ?, ?, ?, ?, 1, ?)').run(
          v.id,
          ds.id,
          e.name,
          e.manager,
          e.version,
          e.packages,
          e.binDir ?? null,
        )
        fresh.add(ds.id)
      }
      state.versions[key] = v.id
    }

    // Availability, for every version (admin-created ones too): which engine runs it now.
    for (const v of db.prepare('SELECT id, datastore_id, manager, version, active, bin_dir FROM datastore_versions').all() as VersionRow[]) {
      const engine = installedEngineFor(engines, v.manager, v.version)
      if (!engine) {
        if (v.active) {
          db.prepare('UPDATE datastore_versions SET active = 0 WHERE id = ?').run(v.id)
          parked.add(v.id)
        }
        continue
      }
      if ((engine.binDir ?? null) !== v.bin_dir) db.prepare('UPDATE datastore_versions SET bin_dir = ? WHERE id = ?').run(engine.binDir ?? null, v.id)
      if (parked.has(v.id)) {
        db.prepare('UPDATE datastore_versions SET active = 1 WHERE id = ?').run(v.id)
        parked.delete(v.id)
      }
    }

    // A default only where there is none and registration just added a version; an
    // admin's default (or its absence) on an existing datastore stands.
    for (const dsId of fresh) {
      const ds = db.prepare('SELECT default_version_id FROM datastores WHERE id = ?').get(dsId) as { default_version_id: string | null }
      if (ds.default_version_id && db.prepare('SELECT 1 FROM datastore_versions WHERE id = ?').get(ds.default_version_id)) continue
      const active = db.prepare('SELECT id, version FROM datastore_versions WHERE datastore_id = ? AND active = 1').all(dsId) as Array<{ id: string; version: string }>
      active.sort((a, b) => b.version.localeCompare(a.version, undefined, { numeric: true }))
      if (active[0]) db.prepare('UPDATE datastores SET default_version_id = ? WHERE id = ?').run(active[0].id, dsId)
    }

    const existing = new Set(db.prepare('SELECT id FROM datastore_versions').pluck().all() as string[])
    saveState(db, { versions: state.versions, parked: [...parked].filter((id) => existing.has(id)) })
  })()
}

/**
 * An admin set `active` on a version: from now on that is the admin's choice, and
 * registration no longer reactivates it when its engine comes back.
 */
export function forgetParked(db: DB, versionId: string): void {
  const s = loadState(db)
  if (!s?.parked.includes(versionId)) return
  saveState(db, { versions: s.versions, parked: s.parked.filter((id) => id !== versionId) })
}
