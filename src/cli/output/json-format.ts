/**
 * Python's `json.dumps(value, indent=2)` / `json.dumps(value)` as cliff calls it, from
 * lossless-json's stringify (exact bigints) plus what the golden test (test/e2e/golden-output.ts)
 * shows Python does differently from it: `ensure_ascii` (`"golden \u6570..."`, surrogate pairs
 * for astral characters), floats as Python spells them (`9.4e-08`), and `", "` / `": "`
 * separators without indent (`--noindent`).
 */
import { createRequire } from 'node:module'
import { pyNumberRepr } from './python-repr.js'

let lossless: typeof import('lossless-json') | undefined

const PY_NUMBERS = [{ test: (v: unknown) => typeof v === 'number', stringify: (v: unknown) => pyNumberRepr(v as number) }]

/** `json.dumps(value, indent=indent)` with Python's default separators. */
export function pyJsonDumps(value: unknown, indent: number | null): string {
  // Loaded on first use, as in client-factory.ts: tables never pay for it.
  lossless ??= createRequire(import.meta.url)('lossless-json') as typeof import('lossless-json')
  const text = (lossless.stringify(value ?? null, undefined, indent ?? 2, PY_NUMBERS) ?? 'null').replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  if (indent !== null) return text
  // Every newline of the indented text is structural (strings hold "\n" escaped), so the compact form is a rewrite of those.
  return text
    .replace(/,\n */g, ', ')
    .replace(/([[{])\n */g, '$1')
    .replace(/\n *([\]}])/g, '$1')
}
