import t from 'tap'
import { apiLab } from '../../helpers/api.js'
import { fromXml, parseJsonKeepingNumbers, toXml, wantsXml } from '../../../src/server/http/xml.js'
import { JsonNumber } from '../../../src/server/http/json-literal.js'

const XML = { accept: 'application/xml' }

const NS = 'xmlns="http://docs.openstack.org/database/api/v1.0"'
const DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'

/** A JSON value as old Trove's XML carried it: every scalar as Python's str() of it. */
function strings(v: unknown): unknown {
  if (v === null) return 'None'
  if (typeof v === 'boolean') return v ? 'True' : 'False'
  if (typeof v === 'number') return String(v)
  if (Array.isArray(v)) return v.map(strings)
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, strings(x)]))
  return v
}

t.test("old Trove's mapping (python-troveclient's compat/xml.py): answers", async (t) => {
  t.equal(
    toXml({ instance: { id: 'a', name: 'x y', links: [{ href: 'h', rel: 'self' }], volume: { size: 2, used: 0.25 }, ip: ['1.2.3.4'], ok: true, n: null } }),
    `${DECL}<instance ${NS} id="a" name="x y" ok="True" n="None"><links><link href="h" rel="self"/></links><volume size="2" used="0.25"/><ip><item>1.2.3.4</item></ip></instance>`,
    'scalars as attributes (Python str), objects and lists as elements, list items by the singular',
  )
  t.equal(
    toXml({ instances: [{ id: 'a' }], links: [{ rel: 'next', href: 'https://h/v1.0/p/instances?marker=x&limit=1' }] }),
    `${DECL}<instances ${NS}><instance id="a"/><links><link rel="next" href="https://h/v1.0/p/instances?marker=x&amp;limit=1"/></links></instances>`,
    "a page's links inside the root, where the old client looked for them",
  )
  t.equal(toXml({ rootEnabled: true }), `${DECL}<rootEnabled ${NS}>True</rootEnabled>`, "a scalar document (the client's rootEnabled case)")
  t.equal(toXml({ instances: [] }), `${DECL}<instances ${NS}/>`)
  t.equal(
    toXml({ instance: { id: 'a', 'lab:isolation': 'sandbox', 'lab:limits': 'memory not enforced' } }),
    toXml({ instance: { id: 'a' } }),
    "the lab's namespaced extensions are left out of old Trove's XML, which has no name for them",
  )
  t.match(toXml(parseJsonKeepingNumbers('{"v":{"a":1.0,"b":18446744073709551615}}')), /<v [^>]*a="1\.0" b="18446744073709551615"\/>$/, 'numbers verbatim')
  t.ok(Array.isArray(parseJsonKeepingNumbers('[1]')))
  t.ok((parseJsonKeepingNumbers('{"x":2}') as { x: unknown }).x instanceof JsonNumber)
  t.match(toXml({ s: { v: 'a\u0001b\ud800\t<&>"' } }), /v="a\uFFFDb\uFFFD&#9;&lt;&amp;&gt;&quot;"\/>$/, 'characters XML cannot carry become U+FFFD; white space stays as references')
  for (const v of [[1], 'just a string', { a: 1, b: 2 }, { configuration: { values: { 'odd key': 1 } } }, {}]) t.equal(toXml(v), undefined, `not expressible, answered as JSON: ${JSON.stringify(v)}`)
})

t.test("old Trove's mapping: requests as the old client wrote them", async (t) => {
  // TroveXmlClient.morph_request: the body's key is the root, scalars become attributes (str()),
  // dicts and lists elements, list items named by the singular; databases and users bodies are lists.
  t.same(
    fromXml(
      `<instance ${NS} name="from-xml" flavorRef="1"><volume size="1"/><datastore type="postgresql" version="15"/>` +
        '<databases><database name="db1"/></databases><users><user name="u" password="p w"><databases><database name="db1"/></databases></user></users></instance>',
    ),
    {
      instance: {
        name: 'from-xml',
        flavorRef: '1',
        volume: { size: '1' },
        datastore: { type: 'postgresql', version: '15' },
        databases: [{ name: 'db1' }],
        users: [{ name: 'u', password: 'p w', databases: [{ name: 'db1' }] }],
      },
    },
  )
  t.same(fromXml(`<databases ${NS}><database name="a"/><database name="b"/></databases>`), { databases: [{ name: 'a' }, { name: 'b' }] })
  t.same(fromXml(`<restart ${NS}/>`), { restart: {} }, 'an empty element is {}')
  t.same(fromXml('<?xml version="1.0"?>\n<!-- c --><instance name="a&amp;b&#65;&#x42;"><x><![CDATA[<raw>]]></x></instance>'), { instance: { name: 'a&bAB', x: '<raw>' } })
  t.same(fromXml('<volume size="1"/>'), { volume: { size: '1' } }, 'attributes are strings')
  // fast-xml-parser refuses names that could pollute a prototype: a 400, nothing polluted.
  for (const x of ['<x __proto__="p"/>', '<x><__proto__ a="p"/></x>', '<x><constructor a="1"/></x>'])
    t.throws(() => fromXml(x), { fault: 'badRequest', message: 'Malformed request body' }, `no prototype pollution: ${x}`)
  t.equal(({} as Record<string, unknown>).a, undefined)
})

t.test('malformed XML, DTDs and entities are refused', async (t) => {
  const refused = ['<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>', '<x>&e;</x>', '<!ENTITY e "x"><x/>']
  for (const x of refused) t.throws(() => fromXml(x), { fault: 'badRequest', message: /DOCTYPE, entity/ }, x)
  const malformed = [
    '<x>',
    '<x></y>',
    '<x a="1" a="2"/>',
    '<x/><y/>',
    'text',
    '<x>a & b</x>',
    '<x a=1/>',
    '<x>\u0000</x>',
    '<x t:type="number">one</x>',
    '<databases a="b"/>',
    '<x a="1"><a>2</a></x>',
    '<x>text<y/></x>',
    '<?xml version="1.0" encoding="UTF-16"?><x/>',
    '<a>'.repeat(200) + '</a>'.repeat(200),
  ]
  for (const x of malformed) t.throws(() => fromXml(x), { fault: 'badRequest', message: /./ }, x.slice(0, 40))
})

t.test('Accept negotiation', async (t) => {
  t.notOk(wantsXml(undefined))
  t.notOk(wantsXml('*/*'))
  t.notOk(wantsXml('application/json, application/xml'), 'equal q: JSON')
  t.ok(wantsXml('application/xml'))
  t.ok(wantsXml('application/json;q=0.5, application/xml'))
  t.notOk(wantsXml('application/xml;q=0'))
})

t.test('XML over HTTP: answers, faults and request bodies', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const p = `/v1.0/${lab.demo.project}`

  const json = await lab.req('GET', `${p}/flavors`)
  const xml = await lab.req('GET', `${p}/flavors`, { headers: XML })
  t.equal(xml.status, 200)
  t.match(xml.headers['content-type'], /^application\/xml/)
  t.same(fromXml(xml.body), strings(json.body), 'same content as the JSON answer (as strings, as old Trove sent it)')
  t.match((await lab.req('GET', `${p}/flavors`, { headers: { accept: '*/*' } })).headers['content-type'], /^application\/json/, 'JSON stays the default')

  const missing = await lab.req('GET', `${p}/instances/00000000-0000-0000-0000-000000000000`, { headers: XML })
  t.equal(missing.status, 404)
  t.same(fromXml(missing.body), { itemNotFound: { code: '404', message: 'Resource 00000000-0000-0000-0000-000000000000 cannot be found.' } }, 'faults in XML')
  const anon = await lab.req('GET', `${p}/instances`, { token: null, headers: XML })
  t.equal(anon.status, 401)
  t.match(fromXml(anon.body), { error: { code: '401' } })

  const body = '<?xml version="1.0"?><instance name="from-xml"><flavorRef>1</flavorRef><volume size="1"/><datastore type="postgresql"/>' + '<databases><database name="db1"/></databases></instance>'
  const created = await lab.req('POST', `${p}/instances`, { raw: body, headers: { 'content-type': 'application/xml', accept: 'application/xml' } })
  t.equal(created.status, 200, created.body)
  const inst = (fromXml(created.body) as { instance: { name: string; id: string; volume: { size: string } } }).instance
  t.equal(inst.name, 'from-xml')
  t.equal(inst.volume.size, '1', 'numbers as their text, as old Trove sent them')
  t.equal((await lab.req('GET', `${p}/instances/${inst.id}`)).body.instance.name, 'from-xml')

  const xxe = await lab.req('POST', `${p}/instances`, { raw: '<!DOCTYPE i [<!ENTITY x SYSTEM "file:///etc/passwd">]><instance name="&x;"/>', headers: { 'content-type': 'application/xml' } })
  t.equal(xxe.status, 400)
  t.same(xxe.body, { badRequest: { code: 400, message: 'XML with a DOCTYPE, entity declarations or entity references is not accepted.' } })
  const bad = await lab.req('POST', `${p}/instances`, { raw: '<instance name="x">', headers: { 'content-type': 'application/xml', accept: 'application/xml' } })
  t.equal(bad.status, 400)
  t.same(fromXml(bad.body), { badRequest: { code: 400, message: 'Malformed request body' } })
  const schema = await lab.req('POST', `${p}/instances`, { raw: '<instance><name><first>x</first></name></instance>', headers: { 'content-type': 'application/xml' } })
  t.equal(schema.status, 400)
  t.match(schema.body.badRequest.message, /Validation error: instance\['name'\] \{'first': 'x'\} is not of type 'string'/, 'the route sees the value')
  t.equal((await lab.req('POST', `${p}/instances`, { raw: '<x/>', headers: { 'content-type': 'text/xml' } })).status, 415, 'other XML types stay unsupported')
})
