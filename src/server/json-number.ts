import { pyFloatRepr } from '../common/python-float.js'

/**
 * A JSON number written out verbatim. Upstream is Python: its integers have no
 * size limit (MySQL's bounds reach 2^64-1) and its floats print as `1.0`, not `1`.
 * A plain JSON.stringify (somewhere else) still gets the nearest number.
 */
export class JsonNumber {
  constructor(readonly text: string) {}
  toJSON(): number {
    return Number(this.text)
  }
}

/** An integer of any size, exact. */
export function exactInteger(v: bigint | number | string): number | JsonNumber {
  const b = BigInt(v)
  return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : new JsonNumber(b.toString())
}

/** A float as Python's repr prints it: `1.0`, `0.5`, `1e-05`, `1e+16` (JSON's spelling for the non-finite). */
export function pythonFloat(x: number): JsonNumber {
  if (!Number.isFinite(x)) return new JsonNumber(x > 0 ? 'Infinity' : x < 0 ? '-Infinity' : 'NaN')
  return new JsonNumber(pyFloatRepr(x))
}

/** JSON.stringify that writes JsonNumbers (and bigints) verbatim. */
export function stringifyJson(v: unknown): string {
  if (v instanceof JsonNumber) return v.text
  if (typeof v === 'bigint') return v.toString()
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined || typeof x === 'function' ? 'null' : stringifyJson(x))).join(',')}]`
  if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON !== 'function') {
    const parts: string[] = []
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined || typeof x === 'function') continue
      parts.push(`${JSON.stringify(k)}:${stringifyJson(x)}`)
    }
    return `{${parts.join(',')}}`
  }
  return JSON.stringify(v) ?? 'null'
}
