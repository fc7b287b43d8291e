/**
 * Python's `csv.writer` (3.11) with cliff's dialect: `,` delimiter, `"` quote char doubled
 * inside quoted fields, `\` escape char, `\n` line terminator. Hand-written because Python's
 * QUOTE_NONNUMERIC is its own rule: the golden test (test/e2e/golden-output.ts) has
 * `...,"HEALTHY",False,"[{'address': ...}]","1",1,""` (a bool counts as a number: unquoted).
 */
import { pyStr } from './python-repr.js'

/** cliff's `--quote` choices, mapped to Python's csv quoting constants. */
export type QuoteMode = 'all' | 'minimal' | 'none' | 'nonnumeric'

/** Raised where Python's csv module raises `_csv.Error`. */
export class CsvError extends Error {
  override name = 'CsvError'
}

function isNumber(v: unknown): boolean {
  return typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean'
}

function field(value: unknown, mode: QuoteMode): string {
  const text = value === null || value === undefined ? '' : pyStr(value)
  let quoted = mode === 'all' || (mode === 'nonnumeric' && !isNumber(value))
  let out = ''
  for (const ch of text) {
    const special = ch === ',' || ch === '\\' || ch === '"' || ch === '\n'
    if (special) {
      let escaped = false
      if (mode === 'none') escaped = true
      else if (ch === '"') out += '"'
      else if (ch === '\\') escaped = true
      if (!escaped && mode !== 'none') quoted = true
      if (escaped) out += '\\'
    }
    out += ch
  }
  return quoted ? `"${out}"` : out
}

/** One CSV record terminated by `\n`, like `writer.writerow(values)`. */
export function csvRow(values: readonly unknown[], mode: QuoteMode): string {
  if (values.length === 1) {
    const only = values[0]
    if (only === null || only === undefined || only === '') {
      // Python refuses a record that would read back as a blank line.
      if (mode === 'none') throw new CsvError('single empty field record must be quoted')
      return '""\n'
    }
  }
  return values.map((v) => field(v, mode)).join(',') + '\n'
}
