import { randomUUID } from 'node:crypto'
import type { DB } from './index.js'
import { repository } from './repository.js'

/** The quota_usages table: per project and resource, what is in use and what is reserved (m002). */
export class QuotaUsages {
  private readonly s

  constructor(db: DB) {
    this.s = {
      ofTenant: db.prepare('SELECT id, resource, in_use, reserved FROM quota_usages WHERE tenant_id = ?'),
      ensure: db.prepare(`INSERT INTO quota_usages (id, created, updated, tenant_id, in_use, reserved, resource)
        VALUES (?, ?, ?, ?, 0, 0, ?) ON CONFLICT (tenant_id, resource) DO NOTHING`),
      idOf: db.prepare('SELECT id FROM quota_usages WHERE tenant_id = ? AND resource = ?').pluck(),
      addReserved: db.prepare('UPDATE quota_usages SET reserved = reserved + ?, updated = ? WHERE id = ?'),
      commit: db.prepare('UPDATE quota_usages SET in_use = MAX(in_use + ?, 0), reserved = reserved - ?, updated = ? WHERE id = ?'),
      rollback: db.prepare('UPDATE quota_usages SET reserved = reserved - ?, updated = ? WHERE id = ?'),
    }
  }

  ofTenant(tenantId: string): Array<{ id: string; resource: string; in_use: number; reserved: number }> {
    return this.s.ofTenant.all(tenantId) as Array<{ id: string; resource: string; in_use: number; reserved: number }>
  }

  /** The id of a project's usage row of a resource, made (at zero) when missing. */
  ensure(tenantId: string, resource: string, now: string): string {
    this.s.ensure.run(randomUUID(), now, now, tenantId, resource)
    return this.s.idOf.get(tenantId, resource) as string
  }

  addReserved(id: string, delta: number, now: string): void {
    this.s.addReserved.run(delta, now, id)
  }

  /** Moves a reserved delta to in_use (floored at 0). */
  commit(id: string, delta: number, now: string): void {
    this.s.commit.run(delta, delta, now, id)
  }

  /** Gives a reserved delta back. */
  rollback(id: string, delta: number, now: string): void {
    this.s.rollback.run(delta, now, id)
  }
}

export const quotaUsages = repository((db) => new QuotaUsages(db))
