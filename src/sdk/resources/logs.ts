import type { Transport } from '../transport.js'
import { NotFoundError } from '../errors.js'

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
export interface LogActions {
  enable?: boolean
  disable?: boolean
  publish?: boolean
  discard?: boolean
}

/** The published text of a log (the lab's contents route). */
export interface PublishedLog {
  name: string
  container: string
  prefix: string
  published: number
  lines: number
  contents: string
}

const enc = encodeURIComponent

/** Guest logs of an instance: `/instances/{id}/log`. */
export class Logs {
  constructor(private readonly client: Transport) {}

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
   * The published text of a log from the object store (Swift in the catalog), as
   * troveclient's log_generator reads it: list the log's container by its prefix; for the
   * last `lines` lines, take the newest objects until their x-object-meta-lines cover
   * them and cut the oldest of those; `lines` 0 = every object, oldest first. A missing
   * container or object is a NotFoundError; so is a log with no published object.
   */
  async objectStoreContents(log: Pick<GuestLog, 'name' | 'container' | 'prefix'>, lines = 0): Promise<string> {
    const container = `/${enc(log.container)}`
    const objectPath = (name: string) => `${container}/${name.split('/').map(enc).join('/')}`
    const listing = await this.client.objectStore('GET', container, { format: 'json', prefix: log.prefix })
    const parts = JSON.parse(listing.body || '[]') as Array<{ name: string; last_modified: string }>
    if (parts.length === 0) throw new NotFoundError(404, `No published '${log.name}' log was found`)
    const get = async (name: string) => (await this.client.objectStore('GET', objectPath(name))).body
    if (!lines) {
      const oldestFirst = [...parts].sort((a, b) => (a.last_modified < b.last_modified ? -1 : a.last_modified > b.last_modified ? 1 : 0))
      let text = ''
      for (const p of oldestFirst) text += await get(p.name)
      return text
    }
    const newestFirst = [...parts].sort((a, b) => (a.last_modified < b.last_modified ? 1 : a.last_modified > b.last_modified ? -1 : 0))
    const shown: typeof parts = []
    let want = lines
    let partial = false
    for (const p of newestFirst) {
      const head = await this.client.objectStore('HEAD', objectPath(p.name))
      const h = head.headers['x-object-meta-lines']
      const n = Number.parseInt(String(Array.isArray(h) ? h[0] : (h ?? '')), 10) || 0
      shown.unshift(p)
      if (n >= want) {
        partial = true
        break
      }
      want -= n
    }
    if (!partial) want = lines
    const [first, ...rest] = shown
    // Python's str.splitlines, then the last `want` lines joined with newlines.
    const firstLines = (await get(first.name)).split(/\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/)
    if (firstLines[firstLines.length - 1] === '') firstLines.pop()
    let text = `${firstLines.slice(-want).join('\n')}\n`
    for (const p of rest) text += await get(p.name)
    return text
  }

  /**
   * The published text of a log, all of it or its last `lines` lines (0 = all), from a
   * lab: it serves its object store at GET /instances/{id}/log/{name}/contents (a lab
   * extension; an OpenStack cloud has Swift instead: objectStoreContents).
   */
  async contents(instanceId: string, name: string, lines = 0): Promise<PublishedLog> {
    return (await this.client.request<{ log: PublishedLog }>('GET', `/instances/${enc(instanceId)}/log/${enc(name)}/contents`, { query: { lines } })).body.log
  }
}
