/**
 * Python's `str()`, `repr()` and `<` for the JSON-shaped values commands return.
 *
 * cliff prints non-string cells with Python's `str()`, so a faithful table needs `True`, `None`
 * and `{'a': 1}` rather than JavaScript's spellings. JavaScript cannot tell `1` from `1.0`:
 * integral numbers are treated as Python ints, everything else as floats.
 */

import { pyFloatRepr } from '../../common/python-float.js'

/** Raised where Python would raise TypeError (an unorderable comparison). */
export class PyTypeError extends Error {
  override name = 'PyTypeError'
}

const NON_PRINTABLE = /^[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]$/u

/** Python's `str.isprintable()` for one code point. */
export function isPyPrintable(ch: string): boolean {
  return ch === ' ' || !NON_PRINTABLE.test(ch)
}

/** True for a plain object (what a JSON object parses to). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

export { pyFloatRepr }

/**
 * True when a JavaScript number stands for a Python int: integral and exactly representable.
 * Larger integral values can only have come from floats (or lost their digits on parsing).
 */
export function isPyInt(n: number): boolean {
  return Number.isSafeInteger(n)
}

/** `str()`/`repr()` of a Python int or float. */
export function pyNumberRepr(n: number | bigint): string {
  if (typeof n === 'bigint') return n.toString()
  if (Object.is(n, -0)) return '0'
  if (isPyInt(n)) return String(n)
  return pyFloatRepr(n)
}

function hex(cp: number, width: number): string {
  return cp.toString(16).padStart(width, '0')
}

/** `repr(str)`: single quotes unless the text has a `'` and no `"`. */
export function pyStrRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'"
  let out = quote
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number
    if (ch === quote || ch === '\\') out += '\\' + ch
    else if (ch === '\t') out += '\\t'
    else if (ch === '\n') out += '\\n'
    else if (ch === '\r') out += '\\r'
    else if (cp < 0x20 || cp === 0x7f) out += '\\x' + hex(cp, 2)
    else if (cp < 0x7f) out += ch
    else if (isPyPrintable(ch)) out += ch
    else if (cp <= 0xff) out += '\\x' + hex(cp, 2)
    else if (cp <= 0xffff) out += '\\u' + hex(cp, 4)
    else out += '\\U' + hex(cp, 8)
  }
  return out + quote
}

/** Python's `repr()` of a JSON-shaped value (dicts keep their key order, like Python 3.7+). */
export function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return 'None'
  if (typeof value === 'boolean') return value ? 'True' : 'False'
  if (typeof value === 'number' || typeof value === 'bigint') return pyNumberRepr(value)
  if (typeof value === 'string') return pyStrRepr(value)
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`
  if (value instanceof Date) return pyStrRepr(value.toISOString())
  if (isPlainObject(value)) {
    return `{${Object.entries(value)
      .map(([k, v]) => `${pyStrRepr(k)}: ${pyRepr(v)}`)
      .join(', ')}}`
  }
  return pyStrRepr(String(value))
}

/** Python's `repr()` of a tuple of strings, e.g. `('ID',)` or `('a', 'b')`. */
export function pyTupleRepr(items: readonly unknown[]): string {
  if (items.length === 1) return `(${pyRepr(items[0])},)`
  return `(${items.map(pyRepr).join(', ')})`
}

/** Python's `str()`: strings as they are, everything else as `repr()`. */
export function pyStr(value: unknown): string {
  if (typeof value === 'string') return value
  if (value instanceof Date) return value.toISOString()
  return pyRepr(value)
}

/** Compares two strings by code point, as Python does (JavaScript compares UTF-16 units). */
export function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0
  const ia = a[Symbol.iterator]()
  const ib = b[Symbol.iterator]()
  for (;;) {
    const x = ia.next()
    const y = ib.next()
    if (x.done) return y.done ? 0 : -1
    if (y.done) return 1
    if (x.value !== y.value) return (x.value.codePointAt(0) as number) - (y.value.codePointAt(0) as number)
  }
}

function isNumeric(v: unknown): v is number | bigint | boolean {
  return typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean'
}

function toNumber(v: number | bigint | boolean): number {
  return typeof v === 'boolean' ? (v ? 1 : 0) : Number(v)
}

function typeName(v: unknown): string {
  if (v === null || v === undefined) return 'NoneType'
  if (typeof v === 'boolean') return 'bool'
  if (typeof v === 'number') return isPyInt(v) ? 'int' : 'float'
  if (typeof v === 'bigint') return 'int'
  if (typeof v === 'string') return 'str'
  if (Array.isArray(v)) return 'list'
  return 'dict'
}

/** Python's `==` for JSON-shaped values. */
export function pyEq(a: unknown, b: unknown): boolean {
  if ((a === null || a === undefined) && (b === null || b === undefined)) return true
  if (isNumeric(a) && isNumeric(b)) return toNumber(a) === toNumber(b)
  if (typeof a === 'string' && typeof b === 'string') return a === b
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => pyEq(x, b[i]))
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a)
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && pyEq(a[k], b[k]))
  }
  return false
}

/** Python's `<`; throws PyTypeError where Python raises TypeError. */
export function pyLt(a: unknown, b: unknown): boolean {
  if (isNumeric(a) && isNumeric(b)) return toNumber(a) < toNumber(b)
  if (typeof a === 'string' && typeof b === 'string') return compareCodePoints(a, b) < 0
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.min(a.length, b.length)
    for (let i = 0; i < n; i++) {
      if (!pyEq(a[i], b[i])) return pyLt(a[i], b[i])
    }
    return a.length < b.length
  }
  throw new PyTypeError(`'<' not supported between instances of '${typeName(a)}' and '${typeName(b)}'`)
}
