import { randomUUID } from 'node:crypto'
import type { DB } from './index.js'
import { repository } from './repository.js'

/** The quotas table: a project's overrides of the default hard limits (m002). */
export class QuotaOverrides {
  private readonly s

  constructor(db: DB) {
    this.s = {
      ofTenant: db.prepare('SELECT resource, hard_limit FROM quotas WHERE tenant_id = ?'),
      upsert: db.prepare(`INSERT INTO quotas (id, created, updated, tenant_id, resource, hard_limit) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (tenant_id, resource) DO UPDATE SET hard_limit = excluded.hard_limit, updated = excluded.updated`),
    }
  }

  ofTenant(tenantId: string): Array<{ resource: string; hard_limit: number }> {
    return this.s.ofTenant.all(tenantId) as Array<{ resource: string; hard_limit: number }>
  }

  /** Sets (or replaces) a project's hard limit of one resource. */
  set(tenantId: string, resource: string, hardLimit: number, now: string): void {
    this.s.upsert.run(randomUUID(), now, now, tenantId, resource, hardLimit)
  }
}

export const quotaOverrides = repository((db) => new QuotaOverrides(db))
