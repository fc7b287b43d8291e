import type { DB } from './index.js'
import { repository } from './repository.js'

/** A recorded reapply request (module_reapply_requests, m005). */
export interface ReapplyRow {
  id: string
  module_id: string
  tenant_id: string
  is_admin: number
  md5: string | null
  include_clustered: number
  batch_size: number | null
  batch_delay: number | null
  force: number
  state: string
  created: string
}

export class ModuleReapplyRequests {
  private readonly s

  constructor(db: DB) {
    this.s = {
      insert: db.prepare(`INSERT INTO module_reapply_requests (id, module_id, tenant_id, is_admin, md5, include_clustered, batch_size, batch_delay, force, created)
        VALUES (@id, @module_id, @tenant_id, @is_admin, @md5, @include_clustered, @batch_size, @batch_delay, @force, @created)`),
      get: db.prepare('SELECT * FROM module_reapply_requests WHERE id = ?'),
      setState: db.prepare('UPDATE module_reapply_requests SET state = ? WHERE id = ?'),
    }
  }

  insert(r: Omit<ReapplyRow, 'state'>): void {
    this.s.insert.run(r)
  }

  get(id: string): ReapplyRow | undefined {
    return this.s.get.get(id) as ReapplyRow | undefined
  }

  setState(id: string, state: 'running' | 'done'): void {
    this.s.setState.run(state, id)
  }
}

export const moduleReapplyRequests = repository((db) => new ModuleReapplyRequests(db))
