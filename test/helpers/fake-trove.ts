import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'

/** One request the fake Trove saw. */
export interface Seen {
  method: string
  url: string
  body: unknown
  headers: IncomingMessage['headers']
}

/** An answer: `body` is sent as JSON, `raw` as it is (e.g. JSON with integers beyond 2^53). */
export interface Reply {
  status?: number
  body?: unknown
  raw?: string
  headers?: Record<string, string>
}

async function listen(t: Test, handle: (req: IncomingMessage, raw: string, res: ServerResponse) => void): Promise<string> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = ''
    req.on('data', (c) => {
      raw += c
    })
    req.on('end', () => handle(req, raw, res))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  )
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

function send(res: ServerResponse, r: Reply): void {
  const text = r.raw ?? (r.body === undefined ? '' : JSON.stringify(r.body))
  res.writeHead(r.status ?? 200, { 'content-type': 'application/json', ...(r.headers ?? {}) })
  res.end(text)
}

function seenOf(req: IncomingMessage, raw: string, prefix: RegExp): Seen {
  let body: unknown
  try {
    body = raw ? JSON.parse(raw) : undefined
  } catch {
    body = raw
  }
  return { method: req.method ?? '', url: (req.url ?? '').replace(prefix, ''), body, headers: req.headers }
}

/**
 * A throwaway HTTP server standing in for a real Trove endpoint (cli.md section 10.1:
 * auth type none + a fixed endpoint): records every request and answers with `route`.
 */
export async function fakeTrove(t: Test, route: (s: Seen) => Reply): Promise<{ url: string; seen: Seen[]; env: Record<string, string> }> {
  const seen: Seen[] = []
  const origin = await listen(t, (req, raw, res) => {
    const s = seenOf(req, raw, /^\/v1\.0\/p1/)
    seen.push(s)
    send(res, route(s))
  })
  const url = `${origin}/v1.0/p1`
  return { url, seen, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent', OS_AUTH_TYPE: 'none', OS_ENDPOINT: url } }
}

/** Trove's fault body. */
export const fault = (status: number, name: string, message: string) => ({ status, body: { [name]: { code: status, message } } })

/** A Swift object of the fake cloud's object store. */
export interface SwiftObject {
  text: string
  lastModified: string
  headers?: Record<string, string>
}

/**
 * A fake upstream cloud (not a lab): Keystone v3 at /identity/v3 (password auth, a catalog
 * with database, object-store and identity), Trove at /v1.0/p1 answered by `route`, and a
 * Swift account at /swift/v1/AUTH_p1 serving `objects` (container -> object name -> object)
 * the way Swift does: JSON container listings with `prefix`, HEAD and GET of objects,
 * x-object-meta-* headers. Swift requests are recorded in `swiftSeen` (without the account).
 */
export async function fakeCloud(
  t: Test,
  route: (s: Seen) => Reply,
  objects: Record<string, Record<string, SwiftObject>> = {},
): Promise<{ origin: string; seen: Seen[]; swiftSeen: Seen[]; env: Record<string, string> }> {
  const seen: Seen[] = []
  const swiftSeen: Seen[] = []
  let origin = ''
  origin = await listen(t, (req, raw, res) => {
    const path = req.url ?? ''
    if (path === '/identity/v3' || path === '/identity/v3/') {
      return send(res, {
        body: {
          version: {
            id: 'v3.14',
            status: 'stable',
            updated: '2020-04-07T00:00:00Z',
            links: [{ rel: 'self', href: `${origin}/identity/v3/` }],
            'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
          },
        },
      })
    }
    if (path.startsWith('/identity/v3/auth/tokens') && req.method === 'POST') {
      const catalog = [
        { type: 'identity', name: 'keystone', endpoints: [{ interface: 'public', region: 'RegionOne', url: `${origin}/identity/v3` }] },
        { type: 'database', name: 'trove', endpoints: [{ interface: 'public', region: 'RegionOne', url: `${origin}/v1.0/p1` }] },
        { type: 'object-store', name: 'swift', endpoints: [{ interface: 'public', region: 'RegionOne', url: `${origin}/swift/v1/AUTH_p1` }] },
      ]
      const token = { methods: ['password'], user: { id: 'u1', name: 'alice' }, project: { id: 'p1', name: 'demo' }, roles: [{ name: 'member' }], expires_at: '2999-01-01T00:00:00.000000Z', catalog }
      return send(res, { status: 201, body: { token }, headers: { 'x-subject-token': 'cloud-token-1' } })
    }
    if (path.startsWith('/swift/v1/AUTH_p1/')) {
      const s = seenOf(req, raw, /^\/swift\/v1\/AUTH_p1/)
      swiftSeen.push(s)
      if (req.headers['x-auth-token'] !== 'cloud-token-1') return send(res, { status: 401, raw: '<html><h1>Unauthorized</h1></html>' })
      const u = new URL(s.url, origin)
      const [container, ...rest] = u.pathname.slice(1).split('/').map(decodeURIComponent)
      const objs = objects[container]
      if (!objs) return send(res, { status: 404, raw: '<html><h1>Not Found</h1><p>The resource could not be found.</p></html>', headers: { 'content-type': 'text/html' } })
      if (rest.length === 0) {
        const prefix = u.searchParams.get('prefix') ?? ''
        const list = Object.entries(objs)
          .filter(([n]) => n.startsWith(prefix))
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([name, o]) => ({ name, hash: 'x', bytes: Buffer.byteLength(o.text), content_type: 'text/plain', last_modified: o.lastModified }))
        return send(res, { body: list })
      }
      const o = objs[rest.join('/')]
      if (!o) return send(res, { status: 404, raw: '<html><h1>Not Found</h1></html>', headers: { 'content-type': 'text/html' } })
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(o.text)), ...(o.headers ?? {}) })
      return res.end(req.method === 'HEAD' ? undefined : o.text)
    }
    const s = seenOf(req, raw, /^\/v1\.0\/p1/)
    seen.push(s)
    if (req.headers['x-auth-token'] !== 'cloud-token-1') return send(res, { status: 401, body: { unauthorized: { code: 401, message: 'no token' } } })
    send(res, route(s))
  })
  return {
    origin,
    seen,
    swiftSeen,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: '/nonexistent',
      OS_AUTH_URL: `${origin}/identity/v3`,
      OS_USERNAME: 'alice',
      OS_PASSWORD: 'pw',
      OS_PROJECT_NAME: 'demo',
      OS_USER_DOMAIN_NAME: 'Default',
      OS_PROJECT_DOMAIN_NAME: 'Default',
      OS_INTERFACE: 'public',
      OS_IDENTITY_API_VERSION: '3',
    },
  }
}

/**
 * Upstream Trove's next link for a non-UUID marker: the request URL with the marker
 * quoted, then urlencoded again (so `u1@%` appears as `u1%2540%2525`).
 */
export function upstreamNextLink(origin: string, url: string, marker: string, limit: number): Array<{ rel: string; href: string }> {
  const u = new URL(url, origin)
  u.protocol = 'https:'
  u.searchParams.set('limit', String(limit))
  u.searchParams.set('marker', encodeURIComponent(marker))
  return [{ rel: 'next', href: u.toString() }]
}
