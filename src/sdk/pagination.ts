import type { Query, TroveClient } from './client.js'

/** One page of a paginated collection, plus the marker of the next page if the server gave one. */
export interface Page<T> {
  items: T[]
  /** Marker for the next page (from the `links` rel=next href), undefined on the last page. */
  next?: string
}

interface ListBody { links?: Array<{ rel?: string; href?: string }> }

/** Fetches one page and reads the next marker from `links`, as troveclient's Paginated does. */
export async function getPage<T>(client: TroveClient, path: string, key: string, query: Query): Promise<Page<T>> {
  const res = await client.request<ListBody & Record<string, unknown>>('GET', path, { query })
  const body = res.body ?? {}
  const items = (body[key] ?? []) as T[]
  const href = body.links?.find((l) => l.rel === 'next')?.href
  let next: string | undefined
  if (href) {
    try { next = new URL(href).searchParams.get('marker') ?? undefined } catch { next = undefined }
  }
  return { items, next }
}

/**
 * Every item of a paginated collection, page after page: `for await (const i of pages) ...`.
 * Stops when a page has no next link (or repeats a marker, to never loop forever).
 */
export async function* paginate<T>(client: TroveClient, path: string, key: string, query: Query = {}): AsyncGenerator<T> {
  let marker: string | undefined = query.marker as string | undefined
  const seen = new Set<string>()
  for (;;) {
    const page: Page<T> = await getPage<T>(client, path, key, { ...query, marker })
    yield* page.items
    if (!page.next || seen.has(page.next)) return
    seen.add(page.next)
    marker = page.next
  }
}
