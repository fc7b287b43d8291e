import { randomUUID } from 'node:crypto'
import type { DB } from './index.js'
import { repository } from './repository.js'

/** A backup strategy (m006): per project, and per instance or ('') the whole project. */
export interface StrategyRow {
  id: string
  tenant_id: string
  instance_id: string
  backend: string
  swift_container: string
  created: string
}

/** The backup_strategy table. */
export class BackupStrategies {
  private readonly s

  constructor(db: DB) {
    this.s = {
      // @instance NULL: every strategy of the project (project-wide and per instance).
      list: db.prepare('SELECT * FROM backup_strategy WHERE tenant_id = @tenant AND (@instance IS NULL OR instance_id = @instance) ORDER BY created, rowid'),
      get: db.prepare('SELECT * FROM backup_strategy WHERE tenant_id = ? AND instance_id = ?'),
      put: db.prepare(`INSERT INTO backup_strategy (id, tenant_id, instance_id, backend, swift_container, created) VALUES (?, ?, ?, 'swift', ?, ?)
        ON CONFLICT (tenant_id, instance_id) DO UPDATE SET swift_container = excluded.swift_container, backend = excluded.backend`),
      delete: db.prepare('DELETE FROM backup_strategy WHERE tenant_id = ? AND instance_id = ?'),
    }
  }

  /** A project's strategies, oldest first (only the instance's with `instanceId`). */
  list(tenantId: string, instanceId: string | null): StrategyRow[] {
    return this.s.list.all({ tenant: tenantId, instance: instanceId }) as StrategyRow[]
  }

  /** Creates or replaces the strategy of (project, instance) and returns it. */
  put(tenantId: string, instanceId: string, swiftContainer: string, created: string): StrategyRow {
    this.s.put.run(randomUUID(), tenantId, instanceId, swiftContainer, created)
    return this.s.get.get(tenantId, instanceId) as StrategyRow
  }

  delete(tenantId: string, instanceId: string): void {
    this.s.delete.run(tenantId, instanceId)
  }
}

export const backupStrategies = repository((db) => new BackupStrategies(db))
