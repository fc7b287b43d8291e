import type { FastifyRequest } from 'fastify'
import type { Lab } from '../lab.js'
import { badRequest } from '../errors.js'
import { baseUrl } from './server.js'

/** limit/marker of a guest-paged list (api.md 3): min(limit or 20, 20). */
export function pageQuery(lab: Lab, req: FastifyRequest): { limit: number; marker: string | undefined } {
  const q = req.query as { limit?: string; marker?: string }
  const requested = q.limit !== undefined ? Number.parseInt(q.limit, 10) : lab.config.pageSize
  if (!Number.isFinite(requested) || requested < 0) throw badRequest(`Invalid limit '${q.limit}'.`)
  return { limit: Math.min(requested || lab.config.pageSize, lab.config.pageSize), marker: q.marker || undefined }
}

/** `{key: items}` plus a next link (request URL with marker set, encoded twice, https) when the guest says more follow. */
export function pageBody(req: FastifyRequest, key: string, items: unknown[], limit: number, next: string | null): Record<string, unknown> {
  const body: Record<string, unknown> = { [key]: items }
  if (next) {
    const url = new URL(`${baseUrl(req)}${req.url}`)
    url.protocol = 'https:'
    url.searchParams.set('limit', String(limit))
    // Twice, as upstream does for these non-UUID markers (name@host, database names): its
    // client decodes the link once and sends the result as it is (cli.md 7.8).
    url.searchParams.set('marker', encodeURIComponent(next))
    body.links = [{ rel: 'next', href: url.toString() }]
  }
  return body
}
