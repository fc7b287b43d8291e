import t from 'tap'
import { runMain } from '../helpers/lab.js'
import { fakeCloud, fault, upstreamNextLink, type Seen } from '../helpers/fake-trove.js'

// The CLI against an upstream cloud (issue 11 item 8), played by the fake cloud: Keystone
// with a catalog, upstream Trove's quirks, Swift.
const IID = '9b5b3b6e-8a3f-4a4f-9d55-2d6f1c0a1b01'
const instance = { id: IID, name: 'db1', status: 'ACTIVE', flavor: { id: '2' }, datastore: { type: 'mysql', version: '5.7.29' }, volume: { size: 2 }, links: [] }

t.test('user list follows next links as upstream encodes them (markers encoded twice)', async (t) => {
  // 45 users, two of them with characters that need escaping; upstream pages by name@host, 20 a page.
  const users = Array.from({ length: 43 }, (_, i) => ({ name: `u${String(i).padStart(2, '0')}`, host: '%', databases: [] as Array<{ name: string }> }))
  users.push({ name: 'u20&x', host: '10.0.0.%', databases: [] }, { name: 'u20 y+z', host: '%', databases: [] })
  const key = (u: { name: string; host: string }) => `${u.name}@${u.host}`
  users.sort((a, b) => (key(a) < key(b) ? -1 : 1))
  const cloud = await fakeCloud(t, (s) => {
    if (s.method === 'GET' && s.url === `/instances/${IID}`) return { body: { instance } }
    const u = new URL(s.url, 'http://x')
    if (s.method === 'GET' && u.pathname === `/instances/${IID}/users`) {
      const marker = u.searchParams.get('marker')
      const from = marker === null ? users : users.filter((x) => key(x) > marker)
      const page = from.slice(0, 20)
      return { body: { users: page, ...(from.length > 20 ? { links: upstreamNextLink('http://x', s.url, key(page[19]), 20) } : {}) } }
    }
    return fault(404, 'itemNotFound', `unexpected ${s.method} ${s.url}`)
  })
  const r = await runMain(['user', 'list', IID, '-f', 'value', '-c', 'Name'], cloud.env)
  t.equal(r.stderr, '')
  t.equal(r.code, 0)
  t.same(r.stdout.trimEnd().split('\n'), users.map((u) => u.name), 'every user once, in order')
  const markers = cloud.seen.filter((s) => s.url.includes('/users?')).map((s) => s.url.replace(/^.*\?/, ''))
  t.same(markers, [`marker=${key(users[19]).replace(/%/g, '%25').replace(/@/g, '%40')}`, `marker=${key(users[39]).replace(/%/g, '%25').replace(/@/g, '%40').replace(/ /g, '%20')}`],
    'the marker decoded once and sent as it is, as the openstack client does')
})
