import t from 'tap'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import {
  TroveClient,
  NotFoundError,
  BadRequestError,
  InternalServerError,
  OverLimitError,
  APIConnectionError,
  WaitFailedError,
  WaitTimeoutError,
  waitFor,
  databaseUrl,
  findEndpoint,
  queryString,
  makeAPIError,
  linkMarker,
} from '../../src/sdk/index.js'

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void

/** A scripted HTTP server on port 0 that records every request. */
async function fake(t: { teardown(fn: () => unknown): void }, handler: Handler) {
  const seen: Array<{ method: string; url: string; token?: string; body: string }> = []
  const srv = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => {
      body += c
    })
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, token: req.headers['x-auth-token'] as string | undefined, body })
      handler(req, body, res)
    })
  })
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()))
  t.teardown(() => new Promise<void>((r) => srv.close(() => r())))
  return { url: `http://127.0.0.1:${(srv.address() as { port: number }).port}`, seen }
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(body === undefined ? '' : JSON.stringify(body))
}

t.test('pure helpers', async (t) => {
  t.equal(queryString({ limit: 5, marker: undefined, include_clustered: false }), '?limit=5&include_clustered=False')
  // A marker from a next link goes back as troveclient sends it: only what a URL cannot carry is escaped.
  t.equal(queryString({ marker: linkMarker('u1%40%25 x&y\u00e9%') }), '?marker=u1%40%25%20x&y%C3%A9%25')
  t.equal(queryString({ marker: 'u1%40%25' }), '?marker=u1%2540%2525', 'a marker given by the caller is encoded')
  t.equal(databaseUrl('http://h:8779/v1.0/%(tenant_id)s', 'p1'), 'http://h:8779/v1.0/p1')
  t.equal(databaseUrl('http://h:8779/v1.0', 'p1'), 'http://h:8779/v1.0/p1')
  t.equal(databaseUrl('http://h:8779/', 'p1'), 'http://h:8779/v1.0/p1')
  t.equal(databaseUrl('http://h:8779/v1.0/p1', 'p1'), 'http://h:8779/v1.0/p1')
  const catalog = [
    {
      type: 'database',
      endpoints: [
        { interface: 'public', region: 'R1', url: 'http://a' },
        { interface: 'public', region: 'R2', url: 'http://b' },
        { interface: 'internal', region: 'R1', url: 'http://c' },
      ],
    },
  ]
  t.equal(findEndpoint(catalog, 'database', 'public', 'R2'), 'http://b')
  t.equal(findEndpoint(catalog, 'database', 'internal'), 'http://c')
  t.throws(() => findEndpoint(catalog, 'database', 'admin'), { message: 'admin endpoint for database service not found' })
  t.throws(() => findEndpoint(catalog, 'database', 'public', 'R3'), { message: 'public endpoint for database service in R3 region not found' })
  const e = makeAPIError(404, { itemNotFound: { code: 404, message: 'Resource x cannot be found.' } }, { 'x-openstack-request-id': 'req-1' })
  t.ok(e instanceof NotFoundError)
  t.same([e.status, e.fault, e.message, e.requestId], [404, 'itemNotFound', 'Resource x cannot be found.', 'req-1'])
  t.equal(makeAPIError(503, 'oops', {}).message, 'Service Unavailable')
  t.equal(makeAPIError(418, undefined, {}).message, 'HTTP Client Error')
  const rl = makeAPIError(413, { overLimit: { code: 413, message: 'slow down' } }, { 'retry-after': '2' })
  t.ok(rl instanceof OverLimitError)
  t.equal(rl.retryAfter, 2)
})

t.test('keystone auth, catalog lookup, retries and re-authentication', async (t) => {
  let tokens = 0
  let flavorsCalls = 0
  let postCalls = 0
  let page = 0
  const srv = await fake(t, (req, body, res) => {
    const base = `http://${req.headers.host}`
    if (req.url === '/v3/auth/tokens' && req.method === 'POST') {
      const b = JSON.parse(body)
      if (b.auth.identity.password.user.password !== 'pw') return json(res, 401, { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } })
      tokens++
      return json(
        res,
        201,
        {
          token: {
            expires_at: '2099-01-01T00:00:00.000000Z',
            project: { id: 'p1' },
            roles: [{ name: 'member' }],
            catalog: [{ type: 'database', endpoints: [{ interface: 'public', region: 'RegionOne', url: `${base}/v1.0` }] }],
          },
        },
        { 'x-subject-token': `T${tokens}` },
      )
    }
    if (req.headers['x-auth-token'] !== `T${tokens}`) return json(res, 401, { error: { code: 401, message: 'expired' } })
    if (req.url === '/v1.0/p1/flavors') {
      flavorsCalls++
      if (flavorsCalls === 1) return json(res, 503, { serviceUnavailable: { code: 503, message: 'busy' } })
      if (flavorsCalls === 2) {
        tokens++
        return json(res, 401, { error: { code: 401, message: 'token expired' } })
      }
      return json(res, 200, { flavors: [{ id: 1, str_id: '1', name: 'm1.tiny', ram: 512, vcpus: 1, disk: 0, ephemeral: 0, links: [] }] })
    }
    if (req.url === '/v1.0/p1/instances' && req.method === 'POST') {
      postCalls++
      return json(res, 503, { serviceUnavailable: { code: 503, message: 'busy' } })
    }
    if (req.url?.startsWith('/v1.0/p1/instances?')) {
      page++
      const marker = new URL(`${base}${req.url}`).searchParams.get('marker')
      if (!marker) return json(res, 200, { instances: [{ id: 'a' }, { id: 'b' }], links: [{ rel: 'next', href: `https://x/v1.0/p1/instances?limit=2&marker=b` }] })
      return json(res, 200, { instances: [{ id: 'c' }] })
    }
    if (req.url === '/v1.0/p1/instances/bad') return json(res, 400, { badRequest: { code: 400, message: 'nope' } }, { 'x-openstack-request-id': 'req-9' })
    return json(res, 404, { itemNotFound: { code: 404, message: 'The resource could not be found.' } })
  })
  const client = new TroveClient({ auth: { authType: 'password', authUrl: `${srv.url}/v3`, username: 'u', password: 'pw', projectName: 'p', interface: 'public' }, maxRetries: 2 })
  t.teardown(() => client.close())

  const flavors = await client.flavors.list()
  t.equal(flavors[0].name, 'm1.tiny', 'a 503 on GET was retried, then a 401 re-authenticated once')
  t.equal(flavorsCalls, 3)
  t.equal(await client.endpoint(), `${srv.url}/v1.0/p1`, 'catalog URL without the project id completed')

  await t.rejects(client.instances.create({ name: 'x' }), InternalServerError, 'a POST that reached the server is not retried on 503')
  t.equal(postCalls, 1)

  const ids: string[] = []
  for await (const i of client.instances.list({ limit: 2 })) ids.push(i.id)
  t.same(ids, ['a', 'b', 'c'], 'for await follows the next links')
  t.equal(page, 2)
  t.match(srv.seen.find((s) => s.url.includes('marker=b'))!.url, /^\/v1\.0\/p1\/instances\?limit=2&marker=b&include_clustered=False$/)

  const err = await client.instances.get('bad').catch((e) => e)
  t.ok(err instanceof BadRequestError)
  t.same([err.message, err.requestId, err.fault], ['nope', 'req-9', 'badRequest'])

  const wrong = new TroveClient({ auth: { authType: 'password', authUrl: `${srv.url}/v3`, username: 'u', password: 'bad', projectName: 'p', interface: 'public' } })
  await t.rejects(wrong.flavors.list(), { status: 401, message: 'The request you have made requires authentication.' })
  await wrong.close()
})

t.test('connection errors and waits', async (t) => {
  const client = new TroveClient({ endpoint: 'http://127.0.0.1:9/v1.0/p', token: 'x', maxRetries: 1 })
  t.teardown(() => client.close())
  const e = await client.flavors.list().catch((x) => x)
  t.ok(e instanceof APIConnectionError)
  t.match(e.message, /^Unable to establish connection to http:\/\/127\.0\.0\.1:9\/v1\.0\/p\/flavors/)

  let n = 0
  const done = await waitFor({ fetch: async () => ({ s: ++n < 3 ? 'BUILD' : 'ACTIVE' }), status: (r) => r.s, until: ['ACTIVE'], intervalMs: 1 })
  t.equal(done?.s, 'ACTIVE')
  await t.rejects(waitFor({ fetch: async () => ({ s: 'ERROR', why: 'disk full' }), status: (r) => r.s, until: ['ACTIVE'], failOn: ['ERROR'], failMessage: (r) => r.why }), WaitFailedError)
  await t.rejects(waitFor({ fetch: async () => ({ s: 'BUILD' }), status: (r) => r.s, until: ['ACTIVE'], timeoutMs: 30, intervalMs: 5 }), WaitTimeoutError)
  const gone = await waitFor({
    fetch: async () => {
      throw new NotFoundError(404, 'gone')
    },
    status: () => 'x',
    until: ['DELETED'],
  })
  t.equal(gone, undefined, 'waiting for DELETED ends when the resource is gone')
})
