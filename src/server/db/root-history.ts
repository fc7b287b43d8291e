import type { DB } from './index.js'
import { StatementCache } from './statements.js'
import { repository } from './repository.js'

/** The root_enabled_history table: who enabled root on an instance, and whether it still is. */
export class RootHistory {
  private readonly st: StatementCache

  constructor(db: DB) {
    this.st = new StatementCache(db)
  }

  /** Root is enabled now (a row not disabled since). */
  enabled(id: string): boolean {
    return this.st.get('SELECT 1 FROM root_enabled_history WHERE id = ? AND deleted_at IS NULL').get(id) !== undefined
  }

  /** Root was enabled at some time (disabled or not). */
  everEnabled(id: string): boolean {
    return this.st.get('SELECT 1 FROM root_enabled_history WHERE id = ?').get(id) !== undefined
  }

  /** The last enable of an instance (mgmt's root history). */
  of(id: string): { user: string; created: string } | undefined {
    return this.st.get('SELECT user, created FROM root_enabled_history WHERE id = ?').get(id) as { user: string; created: string } | undefined
  }

  enable(id: string, user: string, created: string): void {
    this.st
      .get('INSERT INTO root_enabled_history (id, user, created, deleted_at) VALUES (?, ?, ?, NULL) ON CONFLICT(id) DO UPDATE SET user = excluded.user, created = excluded.created, deleted_at = NULL')
      .run(id, user, created)
  }

  disable(id: string, at: string): void {
    this.st.get('UPDATE root_enabled_history SET deleted_at = ? WHERE id = ?').run(at, id)
  }

  /** A restore has the root its backup's instance had: copies that instance's live record to `id`. */
  copyFromBackup(id: string, created: string, backupId: string): void {
    this.st
      .get(`INSERT INTO root_enabled_history (id, user, created, deleted_at)
        SELECT ?, h.user, ?, NULL FROM backups b JOIN root_enabled_history h ON h.id = b.instance_id AND h.deleted_at IS NULL WHERE b.id = ?
        ON CONFLICT(id) DO NOTHING`)
      .run(id, created, backupId)
  }
}

export const rootHistory = repository((db) => new RootHistory(db))
