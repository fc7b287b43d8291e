import type { DB } from './index.js'
import { repository } from './repository.js'

/** The flavors table (Nova's flavors, the lab's sizes). */
export interface FlavorRow {
  id: string
  name: string
  ram: number
  vcpus: number
  disk: number
  ephemeral: number
}

export class Flavors {
  private readonly s

  constructor(db: DB) {
    this.s = {
      list: db.prepare('SELECT * FROM flavors ORDER BY CAST(id AS INTEGER), id'),
      get: db.prepare('SELECT * FROM flavors WHERE id = ?'),
      insertOrIgnore: db.prepare('INSERT OR IGNORE INTO flavors (id, name, ram, vcpus, disk, ephemeral) VALUES (?, ?, ?, ?, ?, 0)'),
    }
  }

  /** Every flavor, in the numeric order of their ids. */
  list(): FlavorRow[] {
    return this.s.list.all() as FlavorRow[]
  }

  get(id: string): FlavorRow | undefined {
    return this.s.get.get(id) as FlavorRow | undefined
  }

  /** Adds a flavor unless one has its id (seeding). */
  insertOrIgnore(f: Omit<FlavorRow, 'ephemeral'>): void {
    this.s.insertOrIgnore.run(f.id, f.name, f.ram, f.vcpus, f.disk)
  }
}

export const flavors = repository((db) => new Flavors(db))
