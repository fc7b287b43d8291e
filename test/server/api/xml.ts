import t from 'tap'
import { apiLab } from '../../helpers/api.js'
import { fromXml, parseJsonKeepingNumbers, toXml, wantsXml } from '../../../src/server/http/xml.js'
import { JsonNumber } from '../../../src/server/http/json-literal.js'

const XML = { accept: 'application/xml' }

t.test('the mapping round-trips every JSON value', async (t) => {
  const values: unknown[] = [
    { instance: { id: 'a', name: 'x y', links: [{ href: 'h', rel: 'self' }], volume: { size: 2, used: 0.25 }, ip: ['1.2.3.4'], ok: true, no: false, n: null } },
    { instances: [], links: [{ rel: 'next', href: 'https://h/v1.0/p/instances?marker=x&limit=1' }] },
    { configuration: { values: { 'odd key': 1, '9lives': 'x', xmlish: '', spaces: '  ', text: 'a\r\nb\tc <&>"\'' } } },
    { nested: [[1, [2, []]], [{}], ['']] },
    [1, 'two', null],
    'just a string',
    { restart: {}, reset_status: null },
  ]
  for (const v of values) t.same(fromXml(toXml(v)), v, JSON.stringify(v))
  t.match(
    toXml({ instance: { name: 'x', volume: { size: 1 } } }),
    /<instance xmlns="http:\/\/docs\.openstack\.org\/database\/api\/v1\.0" xmlns:t="urn:trove:xml:json" name="x"><volume><size t:type="number">1<\/size><\/volume><\/instance>$/,
  )
  t.match(toXml({ flavors: [{ id: '1' }, { id: '2' }] }), /<flavors [^>]*t:type="list"><flavor id="1"\/><flavor id="2"\/><\/flavors>/, 'lists as repeated singular elements')
  t.match(toXml(parseJsonKeepingNumbers('{"v":{"a":1.0,"b":18446744073709551615}}')), /<a t:type="number">1\.0<\/a><b t:type="number">18446744073709551615<\/b>/, 'numbers verbatim')
  t.ok(Array.isArray(parseJsonKeepingNumbers('[1]')))
  t.ok((parseJsonKeepingNumbers('{"x":2}') as { x: unknown }).x instanceof JsonNumber)
  t.match(toXml({ s: 'a\u0001b\ud800' }), />a\uFFFDb\uFFFD<\/s>$/, 'characters XML cannot carry become U+FFFD')
  t.same(fromXml('<?xml version="1.0"?>\n<!-- c --><instance name="a&amp;b&#65;&#x42;"><x><![CDATA[<raw>]]></x></instance>'), { instance: { name: 'a&bAB', x: '<raw>' } })
  t.same(fromXml('<volume size="1"/>'), { volume: { size: '1' } }, 'attributes are strings')
  t.same(JSON.stringify(fromXml('<x __proto__="p"/>')), '{"x":{"__proto__":"p"}}', 'no prototype pollution')
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
    '<x t:type="list" a="b"/>',
    '<x a="1"><a>2</a></x>',
    '<x>text<y/></x>',
    '<x t:bogus="1"/>',
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
  t.same(fromXml(xml.body), json.body, 'same content as the JSON answer')
  t.match((await lab.req('GET', `${p}/flavors`, { headers: { accept: '*/*' } })).headers['content-type'], /^application\/json/, 'JSON stays the default')

  const missing = await lab.req('GET', `${p}/instances/00000000-0000-0000-0000-000000000000`, { headers: XML })
  t.equal(missing.status, 404)
  t.same(fromXml(missing.body), { itemNotFound: { code: 404, message: 'Resource 00000000-0000-0000-0000-000000000000 cannot be found.' } }, 'faults in XML')
  const anon = await lab.req('GET', `${p}/instances`, { token: null, headers: XML })
  t.equal(anon.status, 401)
  t.match(fromXml(anon.body), { error: { code: 401 } })

  const body =
    '<?xml version="1.0"?><instance name="from-xml"><flavorRef>1</flavorRef><volume size="1"/><datastore type="postgresql"/>' +
    '<databases t:type="list" xmlns:t="urn:trove:xml:json"><database name="db1"/></databases></instance>'
  const created = await lab.req('POST', `${p}/instances`, { raw: body, headers: { 'content-type': 'application/xml', accept: 'application/xml' } })
  t.equal(created.status, 200, created.body)
  const inst = (fromXml(created.body) as { instance: { name: string; id: string; volume: { size: number } } }).instance
  t.equal(inst.name, 'from-xml')
  t.equal(inst.volume.size, 1, 'typed numbers in the answer')
  t.equal((await lab.req('GET', `${p}/instances/${inst.id}`)).body.instance.name, 'from-xml')

  const xxe = await lab.req('POST', `${p}/instances`, { raw: '<!DOCTYPE i [<!ENTITY x SYSTEM "file:///etc/passwd">]><instance name="&x;"/>', headers: { 'content-type': 'application/xml' } })
  t.equal(xxe.status, 400)
  t.same(xxe.body, { badRequest: { code: 400, message: 'XML with a DOCTYPE, entity declarations or entity references is not accepted.' } })
  const bad = await lab.req('POST', `${p}/instances`, { raw: '<instance name="x">', headers: { 'content-type': 'application/xml', accept: 'application/xml' } })
  t.equal(bad.status, 400)
  t.same(fromXml(bad.body), { badRequest: { code: 400, message: 'Malformed request body' } })
  const schema = await lab.req('POST', `${p}/instances`, { raw: '<instance><name t:type="number" xmlns:t="urn:trove:xml:json">5</name></instance>', headers: { 'content-type': 'application/xml' } })
  t.equal(schema.status, 400)
  t.match(schema.body.badRequest.message, /Validation error: instance\['name'\] 5 is not of type 'string'/, 'the route sees the typed value')
  t.equal((await lab.req('POST', `${p}/instances`, { raw: '<x/>', headers: { 'content-type': 'text/xml' } })).status, 415, 'other XML types stay unsupported')
})
