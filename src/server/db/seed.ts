import { randomUUID } from 'node:crypto'
import type { DetectedEngine } from '../compute/engines.js'
import type { DB } from './index.js'

/** The lab's flavors: 512 MB to 8 GB of RAM, 1 to 4 vCPUs (ids are integers, like Nova's). */
export const LAB_FLAVORS = [
  { id: '1', name: 'm1.tiny', ram: 512, vcpus: 1, disk: 5 },
  { id: '2', name: 'm1.small', ram: 1024, vcpus: 1, disk: 10 },
  { id: '3', name: 'm1.medium', ram: 2048, vcpus: 2, disk: 20 },
  { id: '4', name: 'm1.large', ram: 4096, vcpus: 2, disk: 40 },
  { id: '5', name: 'm1.xlarge', ram: 8192, vcpus: 4, disk: 80 },
]

export function seedFlavors(db: DB): void {
  const ins = db.prepare('INSERT OR IGNORE INTO flavors (id, name, ram, vcpus, disk, ephemeral) VALUES (?, ?, ?, ?, ?, 0)')
  db.transaction(() => { for (const f of LAB_FLAVORS) ins.run(f.id, f.name, f.ram, f.vcpus, f.disk) })()
}

/**
 * Registers what is installed: one datastore per engine, one active version per
 * installed version (ids stay stable across restarts). Versions whose engine has
 * gone are marked inactive, so they are no longer offered, and instances keep
 * their rows.
 */
export function registerDatastores(db: DB, engines: DetectedEngine[]): void {
  db.transaction(() => {
    const seen = new Set<string>()
    for (const e of engines) {
      let ds = db.prepare('SELECT id FROM datastores WHERE name = ?').get(e.datastore) as { id: string } | undefined
      if (!ds) {
        ds = { id: randomUUID() }
        db.prepare('INSERT INTO datastores (id, name) VALUES (?, ?)').run(ds.id, e.datastore)
      }
      let v = db.prepare('SELECT id FROM datastore_versions WHERE datastore_id = ? AND name = ?').get(ds.id, e.name) as { id: string } | undefined
      if (!v) {
        v = { id: randomUUID() }
        db.prepare('INSERT INTO datastore_versions (id, datastore_id, name, manager, version, packages, active, bin_dir) VALUES (?, ?, ?, ?, ?, ?, 1, ?)')
          .run(v.id, ds.id, e.name, e.manager, e.version, e.packages, e.binDir ?? null)
      } else {
        db.prepare('UPDATE datastore_versions SET version = ?, manager = ?, packages = ?, bin_dir = ?, active = 1 WHERE id = ?')
          .run(e.version, e.manager, e.packages, e.binDir ?? null, v.id)
      }
      seen.add(v.id)
    }
    const all = db.prepare('SELECT id, datastore_id FROM datastore_versions').all() as Array<{ id: string; datastore_id: string }>
    for (const v of all) if (!seen.has(v.id)) db.prepare('UPDATE datastore_versions SET active = 0 WHERE id = ?').run(v.id)
    // Default version: keep a still-active default, else the newest active version.
    for (const ds of db.prepare('SELECT id, default_version_id FROM datastores').all() as Array<{ id: string; default_version_id: string | null }>) {
      const active = db.prepare('SELECT id, version FROM datastore_versions WHERE datastore_id = ? AND active = 1').all(ds.id) as Array<{ id: string; version: string }>
      if (ds.default_version_id && active.some((a) => a.id === ds.default_version_id)) continue
      active.sort((a, b) => b.version.localeCompare(a.version, undefined, { numeric: true }))
      db.prepare('UPDATE datastores SET default_version_id = ? WHERE id = ?').run(active[0]?.id ?? null, ds.id)
    }
  })()
}
