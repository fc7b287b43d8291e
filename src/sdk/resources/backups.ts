import type { Transport } from '../transport.js'
import { getPage, paginate, type Page } from '../pagination.js'

/** A backup (api.md 6.12; upstream's BackupView). `size` is in GB, null until known. */
export interface Backup {
  id: string
  name: string
  description: string | null
  locationRef: string | null
  instance_id: string | null
  created: string
  updated: string
  size: number | null
  /** NEW, BUILDING, SAVING, COMPLETED, FAILED, RESTORED or DELETE_FAILED. */
  status: string
  parent_id: string | null
  project_id: string
  datastore?: { type: string; version: string; version_id: string }
  /** trove lab extension: taken by a backup schedule (expires by its instance's retention). */
  automated?: boolean
  [extra: string]: unknown
}

/** Filters and paging of `GET /backups`. */
export interface BackupListOptions {
  limit?: number | string
  /** An integer offset (backups are paged by offset, not by id). */
  marker?: string
  /** Datastore name or id. */
  datastore?: string
  instance_id?: string
  /** Admin: every project's backups. */
  all_projects?: boolean
  /** Admin: one project's backups. */
  project_id?: string
}

/** Body of `POST /backups` (the `backup` object). */
export interface BackupCreate {
  name: string
  /** The instance to back up (its id). */
  instance?: string
  description?: string
  /** Make an incremental backup on top of this backup. */
  parent_id?: string
  /** 1: an incremental backup on top of the instance's last COMPLETED backup. */
  incremental?: 0 | 1
  swift_container?: string
  storage_driver?: string
  restore_from?: { remote_location: string; local_datastore_version_id: string | null; size: number | null }
}

function query(o: BackupListOptions): Record<string, string | number | boolean | undefined> {
  return {
    limit: o.limit,
    marker: o.marker,
    datastore: o.datastore,
    instance_id: o.instance_id,
    all_projects: o.all_projects ? 'True' : undefined,
    project_id: o.project_id,
  } as Record<string, string | number | boolean | undefined>
}

/** Backups: `/backups` and `/instances/{id}/backups`. */
export class Backups {
  constructor(private readonly client: Transport) {}

  /** One page of backups. */
  page(o: BackupListOptions = {}): Promise<Page<Backup>> {
    return getPage<Backup>(this.client, '/backups', 'backups', query(o))
  }

  /** Every backup, across pages: `for await (const b of client.backups.list()) ...`. */
  list(o: BackupListOptions = {}): AsyncGenerator<Backup> {
    return paginate<Backup>(this.client, '/backups', 'backups', query(o))
  }

  /** One page of an instance's backups. */
  pageForInstance(instanceId: string, o: { limit?: number | string; marker?: string } = {}): Promise<Page<Backup>> {
    return getPage<Backup>(this.client, `/instances/${encodeURIComponent(instanceId)}/backups`, 'backups', { limit: o.limit, marker: o.marker })
  }

  /** Every backup of an instance, across pages. */
  listForInstance(instanceId: string, o: { limit?: number | string; marker?: string } = {}): AsyncGenerator<Backup> {
    return paginate<Backup>(this.client, `/instances/${encodeURIComponent(instanceId)}/backups`, 'backups', { limit: o.limit, marker: o.marker })
  }

  /** GET /backups/{id}. */
  async get(id: string): Promise<Backup> {
    return (await this.client.request<{ backup: Backup }>('GET', `/backups/${encodeURIComponent(id)}`)).body.backup
  }

  /** POST /backups: starts a backup (status NEW). */
  async create(body: BackupCreate): Promise<Backup> {
    return (await this.client.request<{ backup: Backup }>('POST', '/backups', { body: { backup: body } })).body.backup
  }

  /** DELETE /backups/{id} (and its incremental children). */
  async delete(id: string): Promise<void> {
    await this.client.request('DELETE', `/backups/${encodeURIComponent(id)}`)
  }
}
