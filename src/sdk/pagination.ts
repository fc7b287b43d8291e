import { LinkMarker, type Query, type Transport } from './transport.js'

/** One page of a paginated collection, plus the marker of the next page if the server gave one. */
export interface Page<T> {
  items: T[]
  /**
   * Marker for the next page, undefined on the last page: the `marker` query value of the
   * `links` rel=next href, decoded once (as troveclient's parse_qsl does). Pass it back with
   * `linkMarker()` so it is sent as the openstack client sends it.
   */
  next?: string
}

export { LinkMarker }

/** Wraps a marker from `Page.next` for a query (see LinkMarker). */
export const linkMarker = (m: string | undefined): LinkMarker | undefined => (m === undefined ? undefined : new LinkMarker(m))

interface ListBody {
  links?: Array<{ rel?: string; href?: string }>
}

/** Fetches one page and reads the next marker from `links`, as troveclient's Paginated does. */
export async function getPage<T>(client: Transport, path: string, key: string, query: Query): Promise<Page<T>> {
  const res = await client.request<ListBody & Record<string, unknown>>('GET', path, { query })
  const body = res.body ?? {}
  const items = (body[key] ?? []) as T[]
  let next: string | undefined
  // The last next link wins, as in troveclient.
  for (const l of body.links ?? []) {
    if (l.rel !== 'next' || !l.href) continue
    try {
      next = new URL(l.href).searchParams.get('marker') ?? undefined
    } catch {
      next = undefined
    }
  }
  return { items, next }
}

/**
 * Every item of a paginated collection, page after page: `for await (const i of pages) ...`.
 * Follows each next link's marker as the server gave it (LinkMarker). Stops when a page has
 * no next link (or repeats a marker, to never loop forever).
 */
export async function* paginate<T>(client: Transport, path: string, key: string, query: Query = {}): AsyncGenerator<T> {
  let marker: Query[string] = query.marker
  const seen = new Set<string>()
  for (;;) {
    const page: Page<T> = await getPage<T>(client, path, key, { ...query, marker })
    yield* page.items
    if (page.next === undefined || seen.has(page.next)) return
    seen.add(page.next)
    marker = linkMarker(page.next)
  }
}
