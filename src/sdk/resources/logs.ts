import type { TroveClient } from '../client.js'

/** A guest log as the guest shows it (api.md 6.5). */
export interface GuestLog {
  name: string
  type: 'SYS' | 'USER'
  status: string
  published: number
  pending: number
  container: string
  prefix: string
  metafile: string
  [key: string]: unknown
}

/** The actions of `POST /instances/{id}/log` besides show. */
export interface LogActions { enable?: boolean; disable?: boolean; publish?: boolean; discard?: boolean }

/** The published text of a log (the lab's contents route). */
export interface PublishedLog { name: string; container: string; prefix: string; published: number; lines: number; contents: string }

const enc = encodeURIComponent

/** Guest logs of an instance: `/instances/{id}/log`. */
export class Logs {
  constructor(private readonly client: TroveClient) {}

  /** GET /instances/{id}/log. */
  async list(instanceId: string): Promise<GuestLog[]> {
    return (await this.client.request<{ logs: GuestLog[] }>('GET', `/instances/${enc(instanceId)}/log`)).body.logs
  }

  /** POST /instances/{id}/log `{"name": L}`. */
  async show(instanceId: string, name: string): Promise<GuestLog> {
    return this.action(instanceId, name, {})
  }

  /**
   * POST /instances/{id}/log with the flags given, as 1, in the order enable, disable,
   * publish, discard (what the upstream client sends).
   */
  async action(instanceId: string, name: string, a: LogActions): Promise<GuestLog> {
    const body: Record<string, unknown> = { name }
    for (const k of ['enable', 'disable', 'publish', 'discard'] as const) if (a[k]) body[k] = 1
    return (await this.client.request<{ log: GuestLog }>('POST', `/instances/${enc(instanceId)}/log`, { body, idempotent: !a.publish && !a.discard })).body.log
  }

  /**
   * The published text of a log, all of it or its last `lines` lines (0 = all). The
   * upstream client reads Swift for this; the lab serves its object store at
   * GET /instances/{id}/log/{name}/contents (a lab extension).
   */
  async contents(instanceId: string, name: string, lines = 0): Promise<PublishedLog> {
    return (await this.client.request<{ log: PublishedLog }>('GET', `/instances/${enc(instanceId)}/log/${enc(name)}/contents`, { query: { lines } })).body.log
  }
}
