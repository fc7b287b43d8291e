import type { DB } from './index.js'
import { repository } from './repository.js'

/** The settings table: one text value per key (JSON where a module keeps a structure). */
export class Settings {
  private readonly s

  constructor(db: DB) {
    this.s = {
      get: db.prepare('SELECT value FROM settings WHERE key = ?').pluck(),
      put: db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
    }
  }

  get(key: string): string | undefined {
    return this.s.get.get(key) as string | undefined
  }

  put(key: string, value: string): void {
    this.s.put.run(key, value)
  }
}

export const settings = repository((db) => new Settings(db))
