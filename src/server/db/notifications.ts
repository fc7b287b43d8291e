import type { DB } from './index.js'
import { StatementCache } from './statements.js'

export interface NotificationRow {
  event_type: string
  publisher_id: string
  priority: string
  payload: string
  created: string
  instance_id: string | null
}

/**
 * The notifications table (the stored events), plus the quota tables' reads that the
 * periodic `dbaas.quota` audit makes (it only reads them; quotas.ts owns their writes).
 */
export class NotificationStore {
  private readonly st: StatementCache

  constructor(db: DB) {
    this.st = new StatementCache(db)
  }

  insert(id: string, eventType: string, publisherId: string, priority: string, payload: string, created: string, instanceId: string | null, requestId: string | null): void {
    this.st
      .get('INSERT INTO notifications (id, event_type, publisher_id, priority, payload, created, instance_id, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(id, eventType, publisherId, priority, payload, created, instanceId, requestId)
  }

  /** When the instance's `trove.instance.create` went out (launched_at). */
  launchedAt(instanceId: string): string | undefined {
    return this.st.pluck("SELECT created FROM notifications WHERE instance_id = ? AND event_type = 'trove.instance.create' ORDER BY created DESC LIMIT 1").get(instanceId) as string | undefined
  }

  /** The payload of the newest event of a type for an instance. */
  lastPayload(instanceId: string, eventType: string): string | undefined {
    return this.st.pluck('SELECT payload FROM notifications WHERE instance_id = ? AND event_type = ? ORDER BY created DESC, rowid DESC LIMIT 1').get(instanceId, eventType) as string | undefined
  }

  /** Stored events, oldest first, all or of one type. */
  list(eventType?: string): NotificationRow[] {
    return (
      eventType ? this.st.get('SELECT * FROM notifications WHERE event_type = ? ORDER BY rowid').all(eventType) : this.st.get('SELECT * FROM notifications ORDER BY rowid').all()
    ) as NotificationRow[]
  }

  /** Projects with a quota or a usage. */
  quotaTenants(): string[] {
    return this.st.pluck('SELECT tenant_id FROM quota_usages UNION SELECT tenant_id FROM quotas ORDER BY 1').all() as string[]
  }

  quotaUsageUpdated(tenantId: string, resource: string): string | undefined {
    return this.st.pluck('SELECT updated FROM quota_usages WHERE tenant_id = ? AND resource = ?').get(tenantId, resource) as string | undefined
  }
}
