import t from 'tap'
import { createHash, randomUUID } from 'node:crypto'
import { REQUEST_NAMES } from '../../helpers/contract.js'
import { apiLab } from '../../helpers/api.js'
import { sample } from '../../helpers/lab.js'

/**
 * Issue 3's fuzz test: malformed and ill-typed requests to every route, built from
 * the routes the server really has and the upstream request samples, with a seeded
 * PRNG (FUZZ_SEED=<n> replays a run; the seed is printed). Every request carries at
 * least one defect, so every answer must be a 4xx with a JSON fault body, never a
 * 5xx and never a hang, and no stored state may change.
 *
 * The one tolerated non-4xx is 501 `notImplemented`: upstream's own answer for a
 * feature a deployment does not offer (replicas, restores, ...), which a mutated but
 * well-formed body can ask for.
 */

// A fixed seed keeps CI reproducible; FUZZ_SEED=random (or a number) explores further. Some
// random seeds mutate a template into a request that is still valid (a no-op merge, a
// numeric string the route accepts): such a 2xx is not a server fault, read it before fixing.
const SEED = process.env.FUZZ_SEED === 'random' ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.FUZZ_SEED ?? 20261124)
const COUNT = Number(process.env.FUZZ_COUNT ?? 1500)
const HANG_MS = 10_000

/** mulberry32: small, fast, good enough to drive a fuzzer reproducibly. */
function prng(seed: number) {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
  const int = (n: number) => Math.floor(next() * n)
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]
  return { next, int, pick }
}
type Rng = ReturnType<typeof prng>

/** Routes from fastify's route tree: [method, path template]. */
function routesOf(tree: string): Array<[string, string]> {
  const out: Array<[string, string]> = []
  const stack: string[] = []
  for (const line of tree.split('\n')) {
    const m = /^(.*?)[├└]── (\S+)(?: \(([^)]*)\))?$/.exec(line)
    if (!m) continue
    const depth = Math.round([...m[1]].length / 4)
    const path = (stack[depth - 1] ?? '') + (depth > 0 && !m[2].startsWith('/') && !(stack[depth - 1] ?? '').endsWith('/') ? '/' : '') + m[2]
    stack[depth] = path
    stack.length = depth + 1
    for (const method of (m[3] ?? '').split(', ').filter((x) => x && x !== 'HEAD')) {
      // `/:ver|:vid` is one node holding two parameter names.
      out.push([method, path.replace(/:(\w+)\|:\w+/g, ':$1')])
    }
  }
  return out
}

/** Request samples by route (method + template tail). */
function templatesFor(method: string, path: string): unknown[] {
  const s = (...names: string[]) => names.filter((n) => REQUEST_NAMES.includes(n)).map((n) => sample(`${n}.json`))
  const tail = path.replace(/^\/v1\.0\/:tenant/, '')
  const key = `${method} ${tail}`
  const byRoute: Record<string, unknown[]> = {
    'POST /instances': [...s('instance-create-request'), { instance: { name: 'f', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'postgresql' } } }],
    'POST /instances/:id/action': s('instance-action-restart-request', 'instance-action-resize-request', 'instance-action-resize-volume-request', 'instance-action-reset-status-request'),
    'PUT /instances/:id': s('instance-put-attach-config-group-request', 'instance-put-detach-config-group-request', 'instance-update-access-request'),
    'PATCH /instances/:id': s('instance-patch-update-name-request', 'instance-patch-detach-replica-request', 'instance-patch-upgrade-datastore-version-request'),
    'POST /instances/:id/ssl': s('instance-ssl-action-request', 'instance-ssl-action-request-disable', 'instance-ssl-action-request-rollback'),
    'POST /configurations': s('config-group-create-request'),
    'PUT /configurations/:id': s('config-group-put-request'),
    'PATCH /configurations/:id': s('config-group-patch-request'),
    'PUT /mgmt/quotas/:project': s('quota-update'),
    'POST /mgmt/instances/:id/action': s('instance-mgmt-action-reboot-request', 'instance-mgmt-action-migrate-request', 'instance-mgmt-action-rebuild-instance-request'),
    'POST /mgmt/datastore-versions': s('datastore-version-create-request'),
    'PATCH /mgmt/datastore-versions/:id': s('datastore-version-mgmt-patch-request'),
    'POST /mgmt/datastores/versions/:vid/parameters': s('datastore-version-parameter-create-request'),
    'PUT /mgmt/datastores/versions/:vid/parameters/:name': s('datastore-version-parameter-update-request'),
    'POST /backup_strategies': s('backup-strategy-create-request'),
    'POST /identity/v3/auth/tokens': [{ auth: { identity: { methods: ['password'], password: { user: { name: 'demo', domain: { name: 'Default' }, password: 'wrong' } } } } }],
  }
  if (byRoute[key]?.length) return byRoute[key]
  const noun =
    tail
      .split('/')
      .filter((x) => x && !x.startsWith(':'))
      .pop() ?? 'thing'
  return [Object.defineProperty({ [noun.replace(/s$/, '')]: { name: 'fuzz', description: 'x' } }, 'generic', { value: true })]
}

const deep = (n: number, leaf: unknown = 1): unknown => {
  let v = leaf
  for (let i = 0; i < n; i++) v = i % 2 ? [v] : { a: v }
  return v
}

/** A value of another type than `v` (or a broken one of the same type). */
function wrongFor(rng: Rng, v: unknown): unknown {
  const big = 'x'.repeat(256 + rng.int(20_000))
  // Only other types: any string may be valid where the schema does not constrain it (huge and broken strings come as whole bodies).
  if (typeof v === 'string') return rng.pick<unknown>([12345, -1, true, false, {}, [], ['a'], { x: big }, 1e308, deep(300)])
  // Never another value of the same type, nor null: either may be valid where the schema is loose.
  if (typeof v === 'number') return rng.pick<unknown>(['', 'abc', '-1', [], {}, true, '9'.repeat(400), 'NaN', big])
  if (typeof v === 'boolean') return rng.pick<unknown>(['yes', 'maybe', [], {}])
  if (Array.isArray(v)) return rng.pick<unknown>([{}, 'str', 7, true, { x: deep(500) }])
  if (v !== null && typeof v === 'object') return rng.pick<unknown>([[], 'str', 42, false, [deep(1000)], ['x']])
  return rng.pick<unknown>([{}, [], 'x', 1])
}

/** Every path to a value inside `v` (not the root). */
function paths(v: unknown, at: string[] = []): string[][] {
  if (v === null || typeof v !== 'object') return []
  return Object.keys(v).flatMap((k) => [[...at, k], ...paths((v as Record<string, unknown>)[k], [...at, k])])
}

/** A deep copy of `v` with the value at `path` replaced by a wrong one. */
/**
 * One wrong value at a random path. A mutation that leaves a request valid (removing
 * the only key of a configuration's `values` makes a no-op merge, which upstream
 * accepts) is not malformed input: draw again.
 */
function mutate(rng: Rng, v: unknown): unknown {
  for (let i = 0; i < 20; i++) {
    const m = mutateOnce(rng, v)
    if (!JSON.stringify(m).includes('"values":{}') || JSON.stringify(v).includes('"values":{}')) return m
  }
  return mutateOnce(rng, v)
}

function mutateOnce(rng: Rng, v: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(v)) as Record<string, unknown>
  const all = paths(copy)
  if (!all.length) return wrongFor(rng, copy)
  const path = rng.pick(all)
  let cur = copy as Record<string, unknown>
  for (const k of path.slice(0, -1)) cur = cur[k] as Record<string, unknown>
  const last = path[path.length - 1]
  cur[last] = wrongFor(rng, cur[last])
  return copy
}

interface FuzzRequest {
  what: string
  method: string
  url: string
  headers: Record<string, string>
  payload?: string | Buffer
}

t.test(`fuzz: malformed requests to every route (seed ${SEED})`, async (t) => {
  t.comment(`FUZZ_SEED=${SEED} FUZZ_COUNT=${COUNT}`)
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const { db, instances } = lab.server.lab
  const rng = prng(SEED)

  // Something real to aim at: an instance (BUILD), a configuration group.
  const dsv = db.prepare('SELECT v.id, v.name, d.name AS ds FROM datastore_versions v JOIN datastores d ON d.id = v.datastore_id WHERE v.active = 1 LIMIT 1').get() as
    | { id: string; name: string; ds: string }
    | undefined
  const instanceId = randomUUID()
  instances.create({
    id: instanceId,
    name: 'target',
    tenant_id: lab.demo.project,
    flavor_id: '1',
    volume_size: 1,
    volume_type: null,
    datastore_version_id: dsv?.id ?? null,
    address: null,
    port: null,
    region_id: 'RegionOne',
    access: null,
  })
  const group = await lab.req('POST', `/v1.0/${lab.demo.project}/configurations`, {
    body: { configuration: { name: 'target', values: {}, ...(dsv ? { datastore: { type: dsv.ds, version: dsv.name } } : {}) } },
  })
  const configurationId = group.status === 200 ? (group.body.configuration.id as string) : randomUUID()
  const paramName = dsv ? (db.prepare('SELECT name FROM datastore_configuration_parameters WHERE datastore_version_id = ? LIMIT 1').pluck().get(dsv.id) as string | undefined) : undefined
  // An expired token of the demo user (as a login an hour ago would have left).
  const expired = `tlab-${randomUUID()}`
  const user = db.prepare('SELECT user_id FROM tokens LIMIT 1').pluck().get() as string
  db.prepare('INSERT INTO tokens (digest, user_id, project_id, methods, audit_id, issued_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
    createHash('sha256').update(expired).digest('hex'),
    user,
    lab.demo.project,
    'password',
    'fuzz',
    '2000-01-01T00:00:00.000000Z',
    '2000-01-01T01:00:00.000000Z',
  )

  const snapshot = () => {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all() as string[]
    return Object.fromEntries(
      tables.map((name) => [
        name,
        createHash('sha256')
          .update(JSON.stringify(db.prepare(`SELECT * FROM "${name}"`).raw().all()))
          .digest('hex'),
      ]),
    )
  }
  const before = snapshot()
  const counts = () => ({
    instances: db.prepare('SELECT count(*) FROM instances WHERE deleted = 0').pluck().get(),
    configurations: db.prepare('SELECT count(*) FROM configurations WHERE deleted = 0').pluck().get(),
  })
  const countsBefore = counts()

  await lab.server.http.ready()
  // The public version documents take no token, parameters or body: nothing to break.
  const routes = routesOf(lab.server.http.printRoutes({ commonPrefix: false })).filter(([, path]) => !['/', '/v1.0', '/identity', '/identity/v3'].includes(path))
  t.ok(routes.length > 40, `${routes.length} routes found`)

  const realIds: Record<string, string[]> = {
    id: [instanceId, configurationId, '1'],
    cid: [randomUUID()],
    iid: [instanceId],
    vid: dsv ? [dsv.id] : [],
    ver: dsv ? [dsv.id, dsv.name] : [],
    ds: dsv ? [dsv.ds] : [],
    name: paramName ? [paramName] : [],
    project: [lab.demo.project],
    module_id: [randomUUID()],
    uid: [],
    rid: [],
  }
  const badIds = () =>
    rng.pick([
      randomUUID(),
      '00000000-0000-0000-0000-000000000000',
      'x',
      '0',
      '-1',
      '%00',
      '%ZZ',
      '%C3%28',
      '%ED%A0%80',
      '..%2F..%2Fetc',
      'a'.repeat(90),
      'a'.repeat(2000),
      '%F0%9F%92%A9',
      "'%20OR%201=1--",
      '%3Cscript%3E',
      '1e999',
      'null',
      '%20',
      encodeURIComponent('\u202e'),
    ])
  const QUERY_ROUTES = new Set(['/instances', '/instances/detail', '/configurations', '/configurations/:id/instances', '/mgmt/instances'])
  const badQuery = () => rng.pick(['limit=abc', 'limit=-1', 'limit=-5&marker=x', 'limit=%00', 'limit=--1', 'limit=abc&limit=def', 'limit=' + 'z'.repeat(5000)])

  /** One request with at least one defect. */
  const build = (): FuzzRequest => {
    const [method, template] = rng.pick(routes)
    const tail = template.replace(/^\/v1\.0\/:tenant/, '')
    const trove = template.startsWith('/v1.0/:tenant')
    const admin = tail.startsWith('/mgmt/') || (template.startsWith('/identity/v3/') && !template.startsWith('/identity/v3/auth'))
    const who = admin ? lab.admin : lab.demo
    const hasBody = method === 'POST' || method === 'PUT' || method === 'PATCH'
    const kinds = ['token', 'path', ...(hasBody ? ['body', 'body', 'body', 'content-type'] : []), ...(QUERY_ROUTES.has(tail) && method === 'GET' ? ['query'] : [])]
    const defect = rng.pick(kinds)
    const params =
      template
        .match(/:\w+/g)
        ?.map((p) => p.slice(1))
        .filter((p) => p !== 'tenant') ?? []
    // Any project id has quotas (upstream too), so a project in the path is never the defect.
    const breakable = params.filter((p) => p !== 'project')
    const headers: Record<string, string> = { 'x-auth-token': who.token }
    let tenant = who.project
    const ids: Record<string, string> = {}
    for (const p of params) ids[p] = realIds[p]?.length ? rng.pick(realIds[p]) : badIds()
    // Routes that act on a real object with no body to break are only sent with another defect.
    let what = defect
    if (defect === 'path' || (!hasBody && defect !== 'token' && defect !== 'query') || (method === 'DELETE' && defect !== 'token')) {
      if (breakable.length) {
        const p = rng.pick(breakable)
        ids[p] = badIds()
        what = `path:${p}`
      } else if (trove) {
        tenant = rng.pick([lab.admin.project === who.project ? lab.demo.project : lab.admin.project, badIds()])
        what = 'path:tenant'
      } else what = 'token'
    }
    if (what === 'token') {
      const t = rng.pick(['missing', 'expired', 'forged', 'forged-long', 'other-project', 'empty', 'unicode'])
      what = `token:${t}`
      if (t === 'missing') delete headers['x-auth-token']
      else if (t === 'expired') headers['x-auth-token'] = expired
      else if (t === 'forged') headers['x-auth-token'] = `tlab-${randomUUID()}`
      else if (t === 'forged-long') headers['x-auth-token'] = 'A'.repeat(8000)
      else if (t === 'empty') headers['x-auth-token'] = ''
      else if (t === 'unicode') headers['x-auth-token'] = 'tlab-%E2%82%AC'
      else if (trove) tenant = who === lab.admin ? lab.demo.project : lab.admin.project
      else delete headers['x-auth-token']
      if (!trove && template === '/identity/v3/auth/tokens' && method === 'GET') headers['x-subject-token'] = 'tlab-nope'
    }
    let url = template.replace(':tenant', tenant).replace(/:(\w+)/g, (_, p: string) => ids[p] ?? badIds())
    if (defect === 'query') {
      url += `?${badQuery()}`
      what = 'query'
    } else if (rng.next() < 0.1) url += `?${badQuery()}`
    const req: FuzzRequest = { what, method, url, headers }
    if (!hasBody) return req
    const known = templatesFor(method, template)
    const template0 = rng.pick(known)
    // Without a sample the route's schema is unknown: a mutated body might be valid, so only break its structure.
    const generic = (known[0] as { generic?: boolean }).generic === true
    headers['content-type'] = 'application/json'
    let body: unknown = template0
    if (defect === 'body') {
      const b = rng.pick(
        rng.next() < 0.05
          ? ['huge']
          : generic
            ? ['whole', 'truncated', 'garbage', 'utf8', 'deep', 'xml', 'xxe', 'empty']
            : ['mutate', 'mutate', 'mutate', 'mutate2', 'whole', 'truncated', 'garbage', 'utf8', 'surrogate', 'deep', 'xml', 'xxe', 'empty', 'dupkeys'],
      )
      req.what = `body:${b}`
      if (b === 'mutate') body = mutate(rng, template0)
      else if (b === 'mutate2') body = mutate(rng, mutate(rng, template0))
      else if (b === 'whole') body = rng.pick<unknown>([[], 'str', 42, null, true, {}, { unknown: {} }, deep(2000), { [Object.keys(template0 as object)[0]]: 'x'.repeat(300_000) }])
      else if (b === 'deep') {
        const n = 50_000 + rng.int(400_000)
        req.payload = rng.next() < 0.5 ? '['.repeat(n) + ']'.repeat(rng.int(3)) : `{"${Object.keys(template0 as object)[0]}": ${'[{"a":'.repeat(n / 8)}1${'}]'.repeat(n / 8)}}`
        return req
      } else if (b === 'truncated') {
        const s = JSON.stringify(template0)
        req.payload = s.slice(0, 1 + rng.int(s.length - 1))
        return req
      } else if (b === 'garbage') {
        req.payload = Buffer.from(Array.from({ length: 1 + rng.int(300) }, () => rng.int(256)))
        return req
      } else if (b === 'utf8') {
        req.payload = Buffer.concat([Buffer.from('{"'), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from('": 1'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('}')])
        return req
      } else if (b === 'surrogate') {
        req.payload = JSON.stringify(mutate(rng, template0)).replace(/"(\w)/, '"\\ud800\\udfff\\udc00$1')
        return req
      } else if (b === 'xml') {
        headers['content-type'] = 'application/xml'
        req.payload = rng.pick(['<', '<a><b></a>', '<a>&bogus;</a>', '<a/>junk', '<a x="1" x="2"/>', '<a t:type="number">x</a>', '<a>'.repeat(500) + '</a>'.repeat(500), '\u0000'])
        return req
      } else if (b === 'xxe') {
        headers['content-type'] = 'application/xml'
        req.payload = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd"><!ENTITY y "&x;&x;&x;">]><r>&y;</r>'
        return req
      } else if (b === 'huge') {
        req.payload = JSON.stringify({ [Object.keys(template0 as object)[0]]: { name: '\u00e9'.repeat(600_000) } })
        return req
      } else if (b === 'empty') {
        req.payload = rng.pick(['', ' ', '\n\n'])
        return req
      } else if (b === 'dupkeys') {
        req.payload = `{"__proto__": {"polluted": 1}, "constructor": {"prototype": {"x": 1}}, ${JSON.stringify(mutate(rng, template0)).slice(1)}`
        return req
      }
    } else if (defect === 'content-type') {
      headers['content-type'] = rng.pick([
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/json-patch+json',
        'text/xml',
        'application/octet-stream',
        'application/jsonx',
        '*/*',
      ])
      req.what = `content-type:${headers['content-type']}`
    }
    // A mutation can empty the root object, which some routes take as a valid no-op (PATCH /instances/{id}).
    const root = body !== null && typeof body === 'object' ? Object.values(body as object)[0] : undefined
    if (root !== null && typeof root === 'object' && !Array.isArray(root) && Object.keys(root).length === 0) body = { [Object.keys(body as object)[0]]: 'not an object' }
    req.payload = JSON.stringify(body)
    return req
  }

  const stats: Record<string, number> = {}
  const failures: string[] = []
  for (let n = 0; n < COUNT; n++) {
    const r = build()
    let res: { statusCode: number; body: string; headers: Record<string, unknown> }
    try {
      res = await Promise.race([
        lab.server.http.inject({ method: r.method as 'GET', url: r.url, headers: r.headers, payload: r.payload }),
        new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no answer within ${HANG_MS} ms`)), HANG_MS).unref()),
      ])
    } catch (e) {
      failures.push(`#${n} ${r.what} ${r.method} ${r.url.slice(0, 200)}: ${(e as Error).message}`)
      continue
    }
    const key = `${res.statusCode}`
    stats[key] = (stats[key] ?? 0) + 1
    let body: unknown
    try {
      body = JSON.parse(res.body)
    } catch {
      body = undefined
    }
    const fault = body !== null && typeof body === 'object' ? Object.entries(body as Record<string, unknown>) : []
    const faultShape = fault.length === 1 && typeof (fault[0][1] as { message?: unknown })?.message === 'string' && (fault[0][1] as { code?: unknown }).code === res.statusCode
    const webob415 = res.statusCode === 415 && typeof (body as { title?: unknown })?.title === 'string'
    const notImplemented = res.statusCode === 501 && fault[0]?.[0] === 'notImplemented'
    // The Mistral v2 subset (routes/mistral.ts) answers Mistral's fault body, which mistralclient reads.
    const mistralFault = r.url.startsWith('/mistral/v2/') && typeof (body as { faultstring?: unknown })?.faultstring === 'string'
    if (((res.statusCode < 400 || res.statusCode > 499) && !notImplemented) || !(faultShape || webob415 || mistralFault)) {
      failures.push(`#${n} ${r.what} ${r.method} ${r.url.slice(0, 200)} -> ${res.statusCode} ${res.body.slice(0, 300)} (payload ${String(r.payload ?? '').slice(0, 200)})`)
    }
  }
  t.comment(`answers by status: ${JSON.stringify(stats)}`)
  t.same(failures, [], `every answer a 4xx with a JSON fault (FUZZ_SEED=${SEED})`)
  t.same(counts(), countsBefore, 'no instance or configuration appeared or went')
  t.same(snapshot(), before, 'no stored state changed')
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution')
})

t.test('5xx the fuzzer found stay fixed', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const p = `/v1.0/${lab.demo.project}`
  const deepName = await lab.req('POST', `${p}/instances`, { raw: `{"instance": {"name": ${'[{"a":'.repeat(20_000)}1${'}]'.repeat(20_000)}}}` })
  t.equal(deepName.status, 400, 'a deeply nested value in a schema error (was a 500: stack overflow in the message)')
  t.match(deepName.body.badRequest.message, /^Validation error: instance\['name'\] \[\{'a': .*\.\.\..* is not of type 'string'$/)
  const badUrl = await lab.req('GET', `${p}/instances/%C3%28`)
  t.same([badUrl.status, badUrl.body], [400, { badRequest: { code: 400, message: 'Malformed request URL.' } }], "bad percent-encoding: a fault body (was fastify's own)")
  t.match(badUrl.headers['x-openstack-request-id'], /^req-/)
  const longId = await lab.req('GET', `${p}/instances/${'a'.repeat(500)}`)
  t.same([longId.status, longId.body], [404, { itemNotFound: { code: 404, message: 'The resource could not be found.' } }], 'an over-long id: 404 with a fault body (was a bare 414)')
})
