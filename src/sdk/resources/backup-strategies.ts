import type { Transport } from '../transport.js'

/** A backup strategy (where a project's or instance's backups go). */
export interface BackupStrategy {
  project_id: string
  instance_id: string | null
  backend?: string
  swift_container: string
  [key: string]: unknown
}

/** Which strategies to list or delete. */
export interface BackupStrategyFilter {
  instance_id?: string
  project_id?: string
}

/** Body of `POST /backup_strategies`. */
export interface BackupStrategyCreate {
  instance_id?: string
  swift_container?: string
}

/** Backup strategies: `/backup_strategies`. */
export class BackupStrategies {
  constructor(private readonly client: Transport) {}

  /** GET /backup_strategies?[instance_id][&project_id]. */
  async list(f: BackupStrategyFilter = {}): Promise<BackupStrategy[]> {
    return (await this.client.request<{ backup_strategies: BackupStrategy[] }>('GET', '/backup_strategies', { query: { ...f } })).body.backup_strategies
  }

  /** POST /backup_strategies. */
  async create(body: BackupStrategyCreate): Promise<BackupStrategy> {
    return (await this.client.request<{ backup_strategy: BackupStrategy }>('POST', '/backup_strategies', { body: { backup_strategy: body } })).body.backup_strategy
  }

  /** DELETE /backup_strategies?[instance_id][&project_id]. */
  async delete(f: BackupStrategyFilter = {}): Promise<void> {
    await this.client.request('DELETE', '/backup_strategies', { query: { ...f } })
  }
}
