// waitFor with `watch` (the long poll of GET /instances/{id}?wait_for_change): used against a
// server that advertises it (the lab), plain polling against one that does not (another cloud,
// here test/helpers/fake-trove.ts); the CLI's --wait goes the same way.
import t from 'tap'
import { TroveClient, waitFor, type Instance } from '../../src/sdk/index.js'
import { apiLab } from '../helpers/api.js'
import { scriptedAgent, until } from '../helpers/scripted-agent.js'
import { runMain } from '../helpers/lab.js'
import { fakeTrove, fault } from '../helpers/fake-trove.js'

const ID = '11111111-2222-3333-4444-555555555555'
const flavor = { id: 1, str_id: '1', name: 'm1.tiny', ram: 512, vcpus: 1, disk: 1, ephemeral: 0, links: [] }
const instance = (status: string) => ({
  id: ID,
  name: 'w1',
  status,
  operating_status: '',
  flavor: { id: '1', links: [] },
  datastore: { type: 'redis', version: '7.0' },
  volume: { size: 1 },
  links: [],
})

t.test('waitFor: a watch that is not offered falls back to polling; an abort ends a watch at once', async (t) => {
  let fetches = 0
  const asked: string[] = []
  const r = await waitFor({
    fetch: async () => ({ s: ++fetches < 3 ? 'BUILD' : 'ACTIVE' }),
    watch: (last) => {
      asked.push(last.s)
      return undefined
    },
    status: (x) => x.s,
    until: ['ACTIVE'],
    intervalMs: 1,
  })
  t.same([r, fetches, asked], [{ s: 'ACTIVE' }, 3, ['BUILD', 'BUILD']], 'asked to watch after each BUILD, then polled')

  const ac = new AbortController()
  const never = new Promise<{ s: string }>(() => {})
  const p = waitFor({
    fetch: async () => ({ s: 'BUILD' }),
    watch: () => {
      ac.abort(new Error('cancelled'))
      return never
    },
    status: (x) => x.s,
    until: ['ACTIVE'],
    signal: ac.signal,
  })
  await t.rejects(p, { message: 'cancelled' }, 'an abort rejects while the watch is pending')
})

t.test("against the lab: from the create's answer, one long poll that the status change answers", async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const lines: string[] = []
  const client = new TroveClient({
    endpoint: `${lab.url}/v1.0/${lab.demo.project}`,
    token: lab.demo.token,
    debug: (l) => {
      if (l.startsWith('REQ')) lines.push(l)
    },
  })
  t.teardown(() => client.close())
  const fresh = new TroveClient({ endpoint: `${lab.url}/v1.0/${lab.demo.project}`, token: lab.demo.token })
  t.teardown(() => fresh.close())
  t.equal(fresh.instances.changed(ID, 'BUILD', 1000), undefined, 'before an answer has shown the offer: nothing sent')
  const inst = await client.instances.create({ name: 'sdk-wait', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' } })
  const agent = await scriptedAgent(lab.dataDir, inst.id)
  t.teardown(() => agent.close())

  const seen: string[] = []
  const done = waitFor<Instance>({
    initial: inst,
    fetch: () => client.instances.get(inst.id),
    watch: (i, ms) => client.instances.changed(inst.id, i.status, ms),
    status: (i) => i.status,
    until: ['ACTIVE'],
    failOn: ['ERROR'],
    intervalMs: 1,
    onProgress: (i) => seen.push(i!.status),
  })
  await until(() => lab.server.lab.instances.changes.waiting === 1, 10_000, 'the long poll waiting')
  await agent.heartbeat('HEALTHY')
  const r = await done
  t.equal(r?.status, 'ACTIVE')
  t.same(seen, ['BUILD', 'ACTIVE'], 'the create answer shown first, then the change')
  const base = `${lab.url}/v1.0/${lab.demo.project}/instances/${inst.id}`
  t.same(
    lines.slice(1).map((l) => l.replace(/wait_timeout=[\d.]+/, 'wait_timeout=N')),
    [`REQ: GET ${base}?wait_for_change=BUILD&wait_timeout=N`],
    "the create's answer offered the long poll and is where the wait starts: one long poll, no GET (intervalMs 1 would have polled many times)",
  )
})

for (const offered of [false, 'on GET', 'on create'] as const) {
  t.test(`trove instance create --wait against a cloud that ${offered ? `offers the long poll ${offered}` : 'does not offer the long poll'}`, async (t) => {
    let plainGets = 0
    const api = await fakeTrove(t, (s) => {
      const headers = offered ? { 'x-trove-wait-for-change': '25' } : undefined
      if (s.method === 'GET' && s.url === '/flavors/1') return { body: { flavor } }
      if (s.method === 'GET' && s.url.startsWith('/flavors')) return { body: { flavors: [flavor] } }
      if (s.method === 'POST' && s.url === '/instances') return { body: { instance: instance('BUILD') }, ...(offered === 'on create' ? { headers } : {}) }
      if (s.method === 'GET' && s.url === `/instances/${ID}`) return { body: { instance: instance(++plainGets < 3 ? 'BUILD' : 'ACTIVE') }, headers }
      if (s.method === 'GET' && s.url.startsWith(`/instances/${ID}?wait_for_change=BUILD&wait_timeout=`)) return { body: { instance: instance('ACTIVE') }, headers }
      return fault(404, 'itemNotFound', `unexpected ${s.method} ${s.url}`)
    })
    const r = await runMain(['instance', 'create', 'w1', '--flavor', '1', '--size', '1', '--datastore', 'redis', '--wait', '-f', 'value', '-c', 'status'], api.env)
    t.same([r.code, r.stdout], [0, 'ACTIVE\n'], r.stderr)
    const waits = api.seen.filter((s) => s.url.startsWith(`/instances/${ID}`)).map((s) => s.url.replace(ID, 'ID').replace(/wait_timeout=[\d.]+/, 'wait_timeout=N'))
    t.same(
      waits,
      offered === 'on create'
        ? ['/instances/ID?wait_for_change=BUILD&wait_timeout=N']
        : offered
          ? ['/instances/ID', '/instances/ID?wait_for_change=BUILD&wait_timeout=N']
          : ['/instances/ID', '/instances/ID', '/instances/ID'],
      offered === 'on create'
        ? "from the create's answer, a long poll that answers ACTIVE"
        : offered
          ? 'a GET, then a long poll that answers ACTIVE'
          : 'plain polling from the create answer until ACTIVE, no unknown parameter sent',
    )
  })
}
