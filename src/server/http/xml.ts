import type { FastifyInstance } from 'fastify'
import { Fault, badRequest } from '../errors.js'
import { JsonNumber } from './json-literal.js'

/**
 * Legacy XML (api.md 1: `Content-Type: application/xml` is accepted; old Trove also
 * answered XML). JSON stays the default: XML is sent only when Accept names
 * application/xml explicitly with a higher q than application/json (wildcards do not
 * count, so `*\/*` or no Accept means JSON).
 *
 * The mapping follows old Trove's XMLDictSerializer where it is knowable (root
 * element = the body's single top-level key, the v1.0 namespace, lists as repeated
 * child elements named by the singular, string fields as attributes) and adds what
 * it needs to round-trip every JSON value exactly (old Trove's XML lost the types):
 *
 *   object      <k a="string member" ...> one child per non-string member </k>
 *   string      an attribute of its object; elsewhere (list item, root) <k>text</k>,
 *               or <k t:type="string">...</k> when empty or only whitespace
 *   number      <k t:type="number">1.0</k> (the JSON text, verbatim: no precision lost)
 *   boolean     <k t:type="boolean">true</k>
 *   null        <k t:type="null"/>
 *   list        <k t:type="list"><singular-of-k>...</singular-of-k>...</k>
 *               (item names: instances -> instance, policies -> policy, else item;
 *               a reader ignores them)
 *   odd key     a key that is no plain XML name (spaces, a leading digit, "xml..."):
 *               <t:entry t:key="the key">value</t:entry>
 *   document    {"k": v} with one plain key -> <k>; anything else -> <t:root>
 *
 * `t` is bound to urn:trove:xml:json. Attributes are always strings, so a request
 * may write `<volume size="1"/>` only where the route accepts a string (it does for
 * a size); `<size t:type="number">1</size>` is the exact form. Characters XML 1.0
 * cannot carry (most C0 controls, lone surrogates) are written as U+FFFD: the one
 * lossy case. Faults are plain bodies, so they follow the same rules:
 * `<itemNotFound message="..."><code t:type="number">404</code></itemNotFound>`.
 *
 * Requests with a DOCTYPE, an entity declaration or a reference to any entity but the
 * five predefined ones are refused with 400 (no XXE, no entity expansion).
 */

export const XML_NS = 'http://docs.openstack.org/database/api/v1.0'
export const XML_TYPES_NS = 'urn:trove:xml:json'
const MAX_DEPTH = 100
const PLAIN_NAME = /^(?![Xx][Mm][Ll])[A-Za-z_][A-Za-z0-9_.-]*$/
// Everything XML 1.0 cannot hold (C0 controls but tab/LF/CR, FFFE/FFFF, lone surrogates).
// eslint-disable-next-line no-control-regex
const NOT_XML_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

function clean(s: string): string {
  return s.replace(NOT_XML_CHAR, '\uFFFD')
}
function escText(s: string): string {
  return clean(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#13;')
}
function escAttr(s: string): string {
  return clean(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;').replace(/\t/g, '&#9;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;')
}

/** Singular item names for lists (a reader ignores them). */
export function singular(name: string): string {
  if (name.includes(':')) return 'item'
  if (/[^aeiou]ies$/.test(name)) return `${name.slice(0, -3)}y`
  if (/[^s]s$/.test(name)) return name.slice(0, -1)
  return 'item'
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof JsonNumber)
}

function element(name: string, v: unknown, extra = ''): string {
  if (v === null || v === undefined) return `<${name}${extra} t:type="null"/>`
  if (typeof v === 'boolean') return `<${name}${extra} t:type="boolean">${v}</${name}>`
  if (typeof v === 'number') return `<${name}${extra} t:type="number">${Number.isFinite(v) ? String(v) : 'null'}</${name}>`
  if (v instanceof JsonNumber || typeof v === 'bigint') return `<${name}${extra} t:type="number">${escText(v instanceof JsonNumber ? v.text : v.toString())}</${name}>`
  if (typeof v === 'string') {
    return v.trim() === '' ? `<${name}${extra} t:type="string">${escText(v)}</${name}>` : `<${name}${extra}>${escText(v)}</${name}>`
  }
  if (Array.isArray(v)) {
    const item = singular(name)
    return `<${name}${extra} t:type="list">${v.map((x) => element(item, x)).join('')}</${name}>`
  }
  if (isObject(v)) {
    let attrs = ''
    let kids = ''
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined || typeof x === 'function') continue
      if (!PLAIN_NAME.test(k)) kids += element('t:entry', x, ` t:key="${escAttr(k)}"`)
      else if (typeof x === 'string') attrs += ` ${k}="${escAttr(x)}"`
      else kids += element(k, x)
    }
    return kids ? `<${name}${extra}${attrs}>${kids}</${name}>` : `<${name}${extra}${attrs}/>`
  }
  return `<${name}${extra} t:type="null"/>`
}

/** A JSON value (plain values, JsonNumbers) as an XML document. */
export function toXml(v: unknown): string {
  const keys = isObject(v) ? Object.keys(v).filter((k) => v[k] !== undefined) : []
  const single = keys.length === 1 && PLAIN_NAME.test(keys[0])
  const [name, value] = single ? [keys[0], (v as Record<string, unknown>)[keys[0]]] : ['t:root', v]
  return `<?xml version="1.0" encoding="UTF-8"?>\n${element(name, value, ` xmlns="${XML_NS}" xmlns:t="${XML_TYPES_NS}"`)}`
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

class XmlSyntax extends Error {}
const dtdRefused = () => badRequest('XML with a DOCTYPE, entity declarations or entity references is not accepted.')
const NAME_RE = /[A-Za-z_:\u00C0-\uFFFF][A-Za-z0-9_:.\-\u00B7\u00C0-\uFFFF]*/y
const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" }
// eslint-disable-next-line no-control-regex
const BAD_LITERAL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

function decodeRefs(s: string): string {
  return s.replace(/&([^;&\s]*);?/g, (whole, ref: string) => {
    if (!whole.endsWith(';')) throw new XmlSyntax('bare &')
    if (ref.startsWith('#')) {
      const cp = ref[1] === 'x' ? Number.parseInt(ref.slice(2), 16) : /^#\d+$/.test(ref) ? Number.parseInt(ref.slice(1), 10) : NaN
      const ok = ref[1] === 'x' ? /^#x[0-9a-fA-F]+$/.test(ref) : /^#\d+$/.test(ref)
      if (!ok || !(cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff)))
        throw new XmlSyntax('bad character reference')
      return String.fromCodePoint(cp)
    }
    if (Object.hasOwn(PREDEFINED, ref)) return PREDEFINED[ref]
    throw dtdRefused()
  })
}

interface XmlNode {
  name: string
  attrs: Map<string, string>
  kids: XmlNode[]
  text: string
  value?: unknown
}

function setKey(obj: Record<string, unknown>, k: string, v: unknown): void {
  if (Object.hasOwn(obj, k)) throw badRequest(`Malformed request body: the XML gives '${k}' twice.`)
  Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true })
}

/** The JSON value of a closed element (the mapping above, read backwards). */
function nodeValue(n: XmlNode): unknown {
  const type = n.attrs.get('t:type')
  const plain: Array<[string, string]> = []
  for (const [k, v] of n.attrs) {
    if (k === 'xmlns' || k.startsWith('xmlns:') || k === 't:type' || k === 't:key') continue
    if (k.startsWith('t:')) throw badRequest(`Malformed request body: unknown attribute ${k}.`)
    plain.push([k, v])
  }
  const hasText = n.text.trim() !== ''
  const scalar = (what: string) => {
    if (plain.length || n.kids.length) throw badRequest(`Malformed request body: a ${what} element cannot have attributes or children.`)
  }
  switch (type) {
    case 'null':
      scalar('null')
      if (hasText) throw badRequest('Malformed request body: a null element must be empty.')
      return null
    case 'boolean': {
      scalar('boolean')
      const t = n.text.trim()
      if (t !== 'true' && t !== 'false') throw badRequest(`Malformed request body: '${t}' is not a boolean.`)
      return t === 'true'
    }
    case 'number': {
      scalar('number')
      const t = n.text.trim()
      if (!/^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/.test(t)) throw badRequest(`Malformed request body: '${t}' is not a number.`)
      return Number(t)
    }
    case 'string':
      scalar('string')
      return n.text
    case 'list':
      if (plain.length || hasText) throw badRequest('Malformed request body: a list element holds only item elements.')
      return n.kids.map((k) => k.value)
    case undefined:
    case 'object': {
      if (type === undefined && hasText && !plain.length && !n.kids.length) return n.text
      if (hasText) throw badRequest('Malformed request body: an element holds both text and fields.')
      const obj: Record<string, unknown> = {}
      for (const [k, v] of plain) setKey(obj, k, v)
      for (const kid of n.kids) {
        const key = kid.name === 't:entry' ? kid.attrs.get('t:key') : kid.name
        if (key === undefined) throw badRequest('Malformed request body: t:entry needs a t:key.')
        setKey(obj, key, kid.value)
      }
      return obj
    }
    default:
      throw badRequest(`Malformed request body: unknown t:type '${type}'.`)
  }
}

/** An XML request body as the JSON value the route would get (throws a 400 Fault). */
export function fromXml(input: string): unknown {
  try {
    return parse(input)
  } catch (e) {
    if (e instanceof Fault) throw e
    throw badRequest('Malformed request body')
  }
}

function parse(input: string): unknown {
  // XML line-end normalisation (2.11), and no character XML 1.0 forbids.
  const s = (input.charCodeAt(0) === 0xfeff ? input.slice(1) : input).replace(/\r\n?/g, '\n')
  if (BAD_LITERAL.test(s)) throw new XmlSyntax('bad character')
  let i = 0
  const stack: XmlNode[] = []
  let root: XmlNode | undefined
  const expect = (lit: string) => {
    if (!s.startsWith(lit, i)) throw new XmlSyntax(`expected ${lit}`)
    i += lit.length
  }
  const name = (): string => {
    NAME_RE.lastIndex = i
    const m = NAME_RE.exec(s)
    if (!m) throw new XmlSyntax('expected a name')
    i = NAME_RE.lastIndex
    return m[0]
  }
  const skipTo = (end: string): string => {
    const j = s.indexOf(end, i)
    if (j < 0) throw new XmlSyntax(`no ${end}`)
    const body = s.slice(i, j)
    i = j + end.length
    return body
  }
  const ws = () => {
    while (i < s.length && ' \t\n'.includes(s[i])) i++
  }
  if (s.startsWith('<?xml', i) && /[\s?]/.test(s[i + 5] ?? '')) {
    const decl = skipTo('?>')
    const enc = /encoding\s*=\s*["']([^"']*)["']/.exec(decl)?.[1]
    if (enc && !/^(utf-?8|us-ascii)$/i.test(enc)) throw badRequest(`Malformed request body: encoding ${enc} is not supported (send UTF-8).`)
  }
  while (i < s.length) {
    if (s[i] !== '<') {
      const j = s.indexOf('<', i)
      const raw = s.slice(i, j < 0 ? s.length : j)
      i = j < 0 ? s.length : j
      const top = stack[stack.length - 1]
      if (!top) {
        if (raw.trim() !== '') throw new XmlSyntax('text outside the root')
        continue
      }
      if (raw.includes(']]>')) throw new XmlSyntax(']]> in text')
      top.text += decodeRefs(raw)
      continue
    }
    if (s.startsWith('<!--', i)) {
      i += 4
      const c = skipTo('-->')
      if (c.includes('--')) throw new XmlSyntax('-- in comment')
      continue
    }
    if (s.startsWith('<![CDATA[', i)) {
      const top = stack[stack.length - 1]
      if (!top) throw new XmlSyntax('CDATA outside the root')
      i += 9
      top.text += skipTo(']]>')
      continue
    }
    if (s.startsWith('<!', i)) {
      if (/^<!(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)/i.test(s.slice(i, i + 12))) throw dtdRefused()
      throw new XmlSyntax('bad markup declaration')
    }
    if (s.startsWith('<?', i)) {
      i += 2
      const target = name()
      if (target.toLowerCase() === 'xml') throw new XmlSyntax('misplaced XML declaration')
      skipTo('?>')
      continue
    }
    if (s.startsWith('</', i)) {
      i += 2
      const n = name()
      ws()
      expect('>')
      const top = stack.pop()
      if (!top || top.name !== n) throw new XmlSyntax('mismatched end tag')
      top.value = nodeValue(top)
      if (!stack.length) root = top
      continue
    }
    // A start tag.
    i++
    if (root) throw new XmlSyntax('a second root element')
    const node: XmlNode = { name: name(), attrs: new Map(), kids: [], text: '' }
    for (;;) {
      const before = i
      ws()
      if (s.startsWith('/>', i) || s[i] === '>') break
      if (i === before) throw new XmlSyntax('expected white space')
      const a = name()
      ws()
      expect('=')
      ws()
      const q = s[i]
      if (q !== '"' && q !== "'") throw new XmlSyntax('unquoted attribute')
      i++
      const raw = skipTo(q)
      if (raw.includes('<')) throw new XmlSyntax('< in an attribute')
      if (node.attrs.has(a)) throw new XmlSyntax('duplicate attribute')
      // Attribute-value normalisation (3.3.3): literal white space reads as a space.
      node.attrs.set(a, decodeRefs(raw.replace(/[\t\n]/g, ' ')))
    }
    const parent = stack[stack.length - 1]
    if (parent) parent.kids.push(node)
    if (stack.length >= MAX_DEPTH) throw badRequest(`Malformed request body: XML nested deeper than ${MAX_DEPTH} levels.`)
    if (s.startsWith('/>', i)) {
      i += 2
      node.value = nodeValue(node)
      if (!parent) root = node
    } else {
      i++
      stack.push(node)
    }
  }
  if (!root || stack.length) throw new XmlSyntax('no complete root element')
  return root.name === 't:root' ? root.value : { [root.name]: root.value }
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
    let xml: string
    try {
      xml = toXml(parseJsonKeepingNumbers(payload))
    } catch {
      return done(null, payload) // not JSON after all: leave it
    }
    reply.header('content-type', 'application/xml; charset=utf-8')
    done(null, xml)
  })
}
