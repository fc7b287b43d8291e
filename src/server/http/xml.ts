import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser'
import type { FastifyInstance } from 'fastify'
import { Fault, badRequest } from '../errors.js'
import { JsonNumber } from './json-literal.js'

/**
 * Legacy XML (api.md 1: `Content-Type: application/xml` is accepted; old Trove also
 * answered XML). JSON stays the default: XML is sent only when Accept names
 * application/xml explicitly with a higher q than application/json (wildcards do not
 * count, so `*\/*` or no Accept means JSON).
 *
 * The decision (issue 13 item 5): the mapping old Trove's own client used, found in
 * python-troveclient's troveclient/compat/xml.py (TroveXmlClient, removed in 2014 by
 * "Get rid of XML related trove client bindings"), which read old Trove's
 * XMLDictSerializer (trove/common/wsgi.py over openstack-common's wsgi). Parsing and
 * building are fast-xml-parser's; what is written here is only the mapping:
 *
 *   document    {"k": v} -> <k xmlns="http://docs.openstack.org/database/api/v1.0">;
 *               a page {"instances": [...], "links": [...]} puts <links> inside the
 *               root (the client lifts it out again)
 *   object      scalar members as attributes, the rest as child elements
 *   scalar      an attribute's text: strings as they are, numbers as their JSON text,
 *               booleans True/False and null None (Python's str(), which the client
 *               turns back into True/False/None); inside a list, <item>text</item>
 *   list        an element holding one child per item, named by the singular
 *               (old wsgi: the name without its final "s", else "item")
 *
 * Like old Trove's, this XML carries no types: a reader gets strings (the old client
 * typed back a fixed list of fields: volume size, flavor ram, ...) and knows which
 * elements are lists by name (LIST_NAMES). A document XML cannot express this way
 * (several top-level keys, a key that is no XML name) is answered as JSON.
 *
 * Requests read the same way: attributes and text are strings (the routes accept
 * digit strings where old Trove's schemas did, e.g. a volume size), an element named
 * in LIST_NAMES is a list of its children, an empty element is {} (`<restart/>`).
 * Requests with a DOCTYPE, an entity declaration or a reference to any entity but the
 * five predefined ones are refused with 400 (no XXE, no entity expansion); anything
 * else malformed is upstream's 400 "Malformed request body".
 *
 * Tested against that client's own code: test/server/api/xml-old-client.ts runs its
 * TroveXmlClient (morph_request, morph_response_body) with python3 against a server.
 */

export const XML_NS = 'http://docs.openstack.org/database/api/v1.0'
const MAX_DEPTH = 100
/** Elements read as lists: the old client's LISTIFY and REQUEST_AS_LIST, and the API's request lists. */
export const LIST_NAMES = new Set([
  'accounts',
  'databases',
  'flavors',
  'instances',
  'links',
  'hosts',
  'devices',
  'users',
  'versions',
  'attachments',
  'limits',
  'security_groups',
  'backups',
  'datastores',
  'datastore_versions',
  'configurations',
  'modules',
  'nics',
  'allowed_cidrs',
])
const PLAIN_NAME = /^(?![Xx][Mm][Ll])[A-Za-z_][A-Za-z0-9_.-]*$/
// Everything XML 1.0 cannot hold (C0 controls but tab/LF/CR, FFFE/FFFF, lone surrogates).
// eslint-disable-next-line no-control-regex
const NOT_XML_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

// fast-xml-parser escapes only & < > " ': tab, CR and LF must be references too or
// a reader normalises them to spaces, and XML 1.0 cannot carry some characters at all.
function escapeXml(s: string): string {
  return s
    .replace(NOT_XML_CHAR, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/\t/g, '&#9;')
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;')
}

/** The list item name old Trove's serializer used. */
export function singular(name: string): string {
  return name.endsWith('s') ? name.slice(0, -1) : 'item'
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof JsonNumber)
}

class NotExpressible extends Error {}

/** A scalar as Python's str() printed it. */
function scalarText(v: unknown): string | undefined {
  if (v === null) return 'None'
  if (typeof v === 'boolean') return v ? 'True' : 'False'
  if (typeof v === 'string') return escapeXml(v)
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'None'
  if (typeof v === 'bigint') return v.toString()
  if (v instanceof JsonNumber) return escapeXml(v.text)
  return undefined
}

/** One element's content in fast-xml-parser's builder form ('@name' attributes, '#text', children by name). */
function content(v: unknown, name: string): unknown {
  const text = scalarText(v)
  if (text !== undefined) return { '#text': text }
  if (Array.isArray(v)) {
    const item = singular(name)
    return v.length ? { [item]: v.map((x) => content(x, item)) } : {}
  }
  if (!isObject(v)) return {}
  const out: Record<string, unknown> = {}
  for (const [k, x] of Object.entries(v)) {
    if (x === undefined || typeof x === 'function') continue
    // The lab's namespaced extensions (`lab:isolation`, `lab:limits`) have no name in old Trove's
    // XML, and no client of it reads them: the XML answer goes without them rather than as JSON.
    if (k.startsWith('lab:')) continue
    if (!PLAIN_NAME.test(k)) throw new NotExpressible(k)
    const t = scalarText(x)
    if (t !== undefined) out[`@${k}`] = t
    else out[k] = content(x, k)
  }
  return out
}

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@', textNodeName: '#text', processEntities: false, suppressEmptyNode: true, suppressBooleanAttributes: false })

/** A JSON answer (plain values, JsonNumbers) as old Trove's XML, or undefined when that mapping cannot express it. */
export function toXml(v: unknown): string | undefined {
  if (!isObject(v)) return undefined
  const keys = Object.keys(v).filter((k) => v[k] !== undefined)
  const [root, ...rest] = keys
  const page = rest.length === 1 && rest[0] === 'links' && Array.isArray(v.links) && Array.isArray(v[root])
  if (!root || (rest.length && !page) || !PLAIN_NAME.test(root)) return undefined
  try {
    const body = content(v[root], root) as Record<string, unknown>
    if (page && v.links && (v.links as unknown[]).length) Object.assign(body, { links: content(v.links, 'links') })
    return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build({ [root]: { '@xmlns': XML_NS, ...body } })}`
  } catch (e) {
    if (e instanceof NotExpressible) return undefined
    throw e
  }
}

/**
 * JSON.parse that keeps each number's text (as a JsonNumber), so a body sent with
 * sendJson (Python-style floats, integers past 2^53) reads the same in XML.
 */
export function parseJsonKeepingNumbers(text: string): unknown {
  let i = 0
  const ws = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++
  }
  const fail = (): never => {
    throw new SyntaxError(`bad JSON at ${i}`)
  }
  const str = (): string => {
    const m = /"(?:[^"\\]|\\.)*"/y
    m.lastIndex = i
    const r = m.exec(text) ?? fail()
    i = m.lastIndex
    return JSON.parse(r[0]) as string
  }
  // Iterative, so depth is bounded by memory rather than the stack.
  type Frame = { kind: 'a'; v: unknown[] } | { kind: 'o'; v: Record<string, unknown>; key: string }
  const stack: Frame[] = []
  let result: unknown
  for (;;) {
    ws()
    let value: unknown
    let opened = false
    const c = text[i]
    if (c === '{' || c === '[') {
      i++
      ws()
      if (c === '[') {
        if (text[i] === ']') {
          i++
          value = []
        } else {
          stack.push({ kind: 'a', v: [] })
          opened = true
        }
      } else if (text[i] === '}') {
        i++
        value = {}
      } else {
        const key = str()
        ws()
        if (text[i++] !== ':') fail()
        stack.push({ kind: 'o', v: {}, key })
        opened = true
      }
    } else if (c === '"') value = str()
    else if (text.startsWith('true', i)) {
      i += 4
      value = true
    } else if (text.startsWith('false', i)) {
      i += 5
      value = false
    } else if (text.startsWith('null', i)) {
      i += 4
      value = null
    } else {
      const m = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|-?Infinity|NaN/y
      m.lastIndex = i
      const r = m.exec(text) ?? fail()
      i = m.lastIndex
      value = new JsonNumber(r[0])
    }
    if (opened) continue
    // Attach the value, closing every container that ends here.
    for (;;) {
      const top = stack[stack.length - 1]
      if (!top) {
        result = value
        ws()
        if (i !== text.length) fail()
        return result
      }
      if (top.kind === 'a') top.v.push(value)
      else Object.defineProperty(top.v, top.key, { value, enumerable: true, writable: true, configurable: true })
      ws()
      const d = text[i++]
      if (d === ',') {
        if (top.kind === 'o') {
          ws()
          top.key = str()
          ws()
          if (text[i++] !== ':') fail()
        }
        break
      }
      if ((top.kind === 'a' && d === ']') || (top.kind === 'o' && d === '}')) {
        stack.pop()
        value = top.v
        continue
      }
      fail()
    }
  }
}

// ---------------------------------------------------------------- reading

const dtdRefused = () => badRequest('XML with a DOCTYPE, entity declarations or entity references is not accepted.')
// eslint-disable-next-line no-control-regex
const BAD_LITERAL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
const PREDEFINED = new Set(['lt', 'gt', 'amp', 'quot', 'apos'])

/** Refuses what fast-xml-parser would accept but old Trove did not: DTDs, other entities, characters XML forbids. */
function screen(s: string): void {
  if (BAD_LITERAL.test(s)) throw new Malformed()
  if (/<!(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)/i.test(s)) throw dtdRefused()
  const outsideCdata = s.replace(/<!\[CDATA\[[\s\S]*?\]\]>/g, '')
  for (const [, ref] of outsideCdata.matchAll(/&([^;&\s<]*);/g)) {
    if (ref.startsWith('#')) {
      const ok = /^#x[0-9a-fA-F]{1,6}$/.test(ref) || /^#\d{1,7}$/.test(ref)
      const cp = ref[1] === 'x' ? Number.parseInt(ref.slice(2), 16) : Number.parseInt(ref.slice(1), 10)
      if (!ok || !(cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff))) throw new Malformed()
    } else if (!PREDEFINED.has(ref)) throw dtdRefused()
  }
  const enc = /^\s*<\?xml[^>]*encoding\s*=\s*["']([^"']*)["']/.exec(s)?.[1]
  if (enc && !/^(utf-?8|us-ascii)$/i.test(enc)) throw badRequest(`Malformed request body: encoding ${enc} is not supported (send UTF-8).`)
}

class Malformed extends Error {}

// preserveOrder: a list keeps its items' order whatever their names. htmlEntities decodes
// character references (screen() has refused every named entity but the five).
const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: true,
  htmlEntities: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
})

/** fast-xml-parser's ordered node: { name: children, ':@': attributes } or { '#text': text }. */
type Node = Record<string, unknown> & { ':@'?: Record<string, string> }

const nameOf = (n: Node): string | undefined => Object.keys(n).find((k) => k !== ':@')

function setKey(obj: Record<string, unknown>, k: string, v: unknown): void {
  if (Object.hasOwn(obj, k)) throw badRequest(`Malformed request body: the XML gives '${k}' twice.`)
  Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true })
}

/** An element's JSON value (the mapping above, read backwards). */
function value(name: string, n: Node, depth: number): unknown {
  if (depth > MAX_DEPTH) throw badRequest(`Malformed request body: XML nested deeper than ${MAX_DEPTH} levels.`)
  const attrs = Object.entries(n[':@'] ?? {}).filter(([k]) => k !== 'xmlns' && !k.startsWith('xmlns:'))
  const kids: Array<[string, Node]> = []
  let text = ''
  for (const c of (n[name] as Node[]) ?? []) {
    const k = nameOf(c)
    if (k === '#text') text += String(c['#text'])
    else if (k !== undefined) kids.push([k, c])
  }
  const hasText = text.trim() !== ''
  if (LIST_NAMES.has(name)) {
    if (attrs.length || hasText) throw badRequest(`Malformed request body: the list ${name} holds only item elements.`)
    return kids.map(([k, c]) => value(k, c, depth + 1))
  }
  if (!attrs.length && !kids.length) return text === '' ? {} : text
  if (hasText) throw badRequest('Malformed request body: an element holds both text and fields.')
  const obj: Record<string, unknown> = {}
  for (const [k, v] of attrs) setKey(obj, k, v)
  for (const [k, c] of kids) setKey(obj, k, value(k, c, depth + 1))
  return obj
}

/** An XML request body as the JSON value the route would get (throws a 400 Fault). */
export function fromXml(input: string): unknown {
  try {
    const s = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input
    screen(s)
    if (XMLValidator.validate(s) !== true) throw new Malformed()
    const top = (parser.parse(s) as Node[]).filter((n) => nameOf(n) !== '#text' || String(n['#text']).trim() !== '')
    if (top.length !== 1) throw new Malformed()
    const root = nameOf(top[0])
    if (!root || root === '#text') throw new Malformed()
    return { [root]: value(root, top[0], 0) }
  } catch (e) {
    if (e instanceof Fault) throw e
    throw badRequest('Malformed request body')
  }
}

/** Does the Accept header ask for XML (explicitly, and more than for JSON)? */
export function wantsXml(accept: string | undefined): boolean {
  if (!accept?.includes('xml')) return false
  let xml = 0
  let json = 0
  for (const part of accept.split(',')) {
    const [type, ...params] = part.split(';').map((x) => x.trim().toLowerCase())
    const qp = params.find((p) => p.startsWith('q='))
    const q = qp ? Number(qp.slice(2)) : 1
    if (!Number.isFinite(q)) continue
    if (type === 'application/xml') xml = Math.max(xml, q)
    else if (type === 'application/json') json = Math.max(json, q)
  }
  return xml > 0 && xml > json
}

/**
 * Adds the XML request parser and the XML answer hook to a fastify instance (called
 * by createHttp, after its JSON parser). Only JSON answers are converted; empty
 * 202/204 bodies and plain-text answers stay as they are.
 */
export function installXml(app: FastifyInstance): void {
  app.addContentTypeParser('application/xml', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body)
    if (text.trim() === '') return done(null, undefined)
    try {
      done(null, fromXml(text))
    } catch (e) {
      done(e as Error, undefined)
    }
  })
  app.addHook('onSend', (req, reply, payload, done) => {
    if (!wantsXml(req.headers.accept) || typeof payload !== 'string' || payload === '') return done(null, payload)
    const type = reply.getHeader('content-type')
    if (typeof type !== 'string' || !type.startsWith('application/json')) return done(null, payload)
    let xml: string | undefined
    try {
      xml = toXml(parseJsonKeepingNumbers(payload))
    } catch {
      return done(null, payload) // not JSON after all: leave it
    }
    if (xml === undefined) return done(null, payload) // old Trove's XML cannot say it: JSON
    reply.header('content-type', 'application/xml; charset=utf-8')
    done(null, xml)
  })
}
