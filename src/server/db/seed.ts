import type { DetectedEngine } from '../compute/engines.js'
import type { DB } from './index.js'
import { registerEngines } from './datastore-registry.js'
import { flavors } from './flavors.js'

/** The lab's flavors: 512 MB to 8 GB of RAM, 1 to 4 vCPUs (ids are integers, like Nova's). */
export const LAB_FLAVORS = [
  { id: '1', name: 'm1.tiny', ram: 512, vcpus: 1, disk: 5 },
  { id: '2', name: 'm1.small', ram: 1024, vcpus: 1, disk: 10 },
  { id: '3', name: 'm1.medium', ram: 2048, vcpus: 2, disk: 20 },
  { id: '4', name: 'm1.large', ram: 4096, vcpus: 2, disk: 40 },
  { id: '5', name: 'm1.xlarge', ram: 8192, vcpus: 4, disk: 80 },
]

export function seedFlavors(db: DB): void {
  const repo = flavors(db)
  db.transaction(() => {
    for (const f of LAB_FLAVORS) repo.insertOrIgnore(f)
  })()
}

/**
 * Registers what is installed: one datastore per engine, one active version per
 * installed version (ids stay stable across restarts). Versions whose engine has
 * gone are marked inactive, so they are no longer offered, and instances keep
 * their rows. What an admin changed through the mgmt API (deactivated, renamed or
 * deleted versions, defaults) is kept: see registerEngines.
 */
export function registerDatastores(db: DB, engines: DetectedEngine[]): void {
  registerEngines(db, engines)
}
