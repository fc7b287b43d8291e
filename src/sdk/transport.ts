/**
 * What the resources need of a client (TroveClient implements it). The resources and the
 * pagination helpers depend on this, not on client.ts, which constructs them.
 */

/**
 * A marker taken from a next link, to send back the way troveclient does: as it is,
 * escaping only characters a URL cannot carry. Upstream Trove encodes non-UUID markers
 * (`name@host`, database names) twice in its links precisely because its client decodes
 * once and sends the result without encoding it again; encoding it again would make the
 * server compare against the still-encoded text and skip or repeat rows.
 */
export class LinkMarker {
  constructor(readonly value: string) {}
}

/**
 * Query values: undefined/null are dropped; booleans render as Python does (True/False), like
 * troveclient; a LinkMarker (a marker from a next link) is sent as the server gave it.
 */
export type Query = Record<string, string | number | boolean | LinkMarker | undefined | null>

export interface RequestOptions {
  body?: unknown
  query?: Query
  /** Allow retries on failures after the request may have been sent (GET/PUT/DELETE are idempotent). */
  idempotent?: boolean
  /** The service the path is below: the database endpoint (default) or the identity (Keystone v3) one. */
  service?: 'database' | 'identity'
}

export interface Response<T> {
  status: number
  body: T
  headers: Record<string, string | string[] | undefined>
}

export interface Transport {
  request<T>(method: string, path: string, o?: RequestOptions): Promise<Response<T>>
  objectStore(method: 'GET' | 'HEAD', path: string, query?: Query): Promise<Response<string>>
  readonly requestTimeoutMs: number
}
