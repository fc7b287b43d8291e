/**
 * Python's `json.dumps(value, indent=2)` / `json.dumps(value)` as cliff calls it: ASCII-only
 * output (`ensure_ascii`), `", "` and `": "` separators without indent, `","` at line ends with
 * indent, floats as Python spells them.
 */
import { isPlainObject, pyNumberRepr } from './python-repr.js'

function escapeString(s: string): string {
  let out = '"'
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] as string
    const code = s.charCodeAt(i)
    if (ch === '"') out += '\\"'
    else if (ch === '\\') out += '\\\\'
    else if (ch === '\n') out += '\\n'
    else if (ch === '\r') out += '\\r'
    else if (ch === '\t') out += '\\t'
    else if (ch === '\b') out += '\\b'
    else if (ch === '\f') out += '\\f'
    // UTF-16 units are exactly the \uXXXX pairs Python writes for astral characters.
    else if (code < 0x20 || code > 0x7e) out += '\\u' + code.toString(16).padStart(4, '0')
    else out += ch
  }
  return out + '"'
}

function encodeNumber(n: number | bigint): string {
  if (typeof n === 'number') {
    if (Number.isNaN(n)) return 'NaN'
    if (n === Infinity) return 'Infinity'
    if (n === -Infinity) return '-Infinity'
  }
  return pyNumberRepr(n)
}

function encode(value: unknown, indent: number | null, level: number): string {
  if (value === null || value === undefined) return 'null'
  if (typeof value === 'boolean') return value ? 'true' : 'false'
  if (typeof value === 'number' || typeof value === 'bigint') return encodeNumber(value)
  if (typeof value === 'string') return escapeString(value)
  if (value instanceof Date) return escapeString(value.toISOString())
  let open: string
  let close: string
  let items: string[]
  if (Array.isArray(value)) {
    ;[open, close] = ['[', ']']
    items = value.map((v) => encode(v, indent, level + 1))
  } else if (isPlainObject(value)) {
    ;[open, close] = ['{', '}']
    items = Object.entries(value).map(([k, v]) => `${escapeString(k)}: ${encode(v, indent, level + 1)}`)
  } else {
    return escapeString(String(value))
  }
  if (items.length === 0) return open + close
  if (indent === null) return open + items.join(', ') + close
  const inner = '\n' + ' '.repeat(indent * (level + 1))
  const outer = '\n' + ' '.repeat(indent * level)
  return open + inner + items.join(',' + inner) + outer + close
}

/** `json.dumps(value, indent=indent)` with Python's default separators. */
export function pyJsonDumps(value: unknown, indent: number | null): string {
  return encode(value, indent, 0)
}
