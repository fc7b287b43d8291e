/**
 * The subset of PrettyTable (3.x, default style) that cliff's table formatter uses, reproduced
 * byte for byte: `+---+` rules, one space of padding, a header row, no rules between data rows,
 * per-column alignment, multi-line cells and `max_width` wrapping. cli-table3 cannot match
 * PrettyTable's header alignment, width rules and wrapping, hence a port (cli-table3 is no
 * longer a dependency). The golden test (test/e2e/golden-output.ts) checks every table,
 * CJK cells and `--max-width` wrapping included, against the real client's bytes.
 */
import { blockWidth } from './char-width.js'
import { fillText } from './text-wrap.js'

/** Column alignment: left, right or centre (PrettyTable's default when no row sets it). */
export type Align = 'l' | 'r' | 'c'

/** A table ready to print: every cell already converted to text. */
export interface PrettyTableSpec {
  fieldNames: readonly string[]
  rows: readonly (readonly string[])[]
  align: readonly Align[]
  /** Per-field maximum content width (PrettyTable keys it by field name). */
  maxWidth?: ReadonlyMap<string, number>
  printEmpty: boolean
}

function textSize(text: string): [number, number] {
  const lines = text.split('\n')
  return [Math.max(...lines.map(blockWidth)), lines.length]
}

function justify(text: string, width: number, align: Align): string {
  const textWidth = blockWidth(text)
  const excess = width - textWidth
  const pad = (n: number): string => ' '.repeat(Math.max(0, n))
  if (align === 'l') return text + pad(excess)
  if (align === 'r') return pad(excess) + text
  if (excess % 2 !== 0) {
    // Like Python's str.center(): the odd space goes right for odd-width text, left otherwise.
    const half = Math.floor(excess / 2)
    return textWidth % 2 !== 0 ? pad(half) + text + pad(half + 1) : pad(half + 1) + text + pad(half)
  }
  return pad(excess / 2) + text + pad(excess / 2)
}

/** Column widths as PrettyTable's `_compute_widths` computes them (header always fits). */
export function computeWidths(spec: PrettyTableSpec): number[] {
  const widths = spec.fieldNames.map((f) => textSize(f)[0])
  for (const row of spec.rows) {
    row.forEach((value, i) => {
      const field = spec.fieldNames[i] as string
      const size = textSize(value)[0]
      const max = spec.maxWidth?.get(field)
      widths[i] = Math.max(widths[i] as number, max === undefined ? size : Math.min(size, max))
    })
  }
  return widths
}

function hrule(widths: readonly number[]): string {
  return '+' + widths.map((w) => '-'.repeat(w + 2)).join('+') + '+'
}

function stringifyRow(row: readonly string[], widths: readonly number[], align: readonly Align[]): string {
  const cells = row.map((value, i) => {
    const width = widths[i] as number
    return value
      .split('\n')
      .map((line) => (blockWidth(line) > width ? fillText(line, width) : line))
      .join('\n')
      .split('\n')
  })
  const height = Math.max(...cells.map((c) => c.length))
  const lines: string[] = []
  for (let y = 0; y < height; y++) {
    const bits = cells.map((c, i) => ' ' + justify(c[y] ?? '', widths[i] as number, align[i] ?? 'c') + ' ')
    lines.push('|' + bits.join('|') + '|')
  }
  return lines.join('\n')
}

/** PrettyTable's `get_string()`; '' for a table without rows unless `printEmpty`. */
export function prettyTableString(spec: PrettyTableSpec): string {
  if (spec.rows.length === 0 && !spec.printEmpty) return ''
  const widths = computeWidths(spec)
  const rule = hrule(widths)
  const header = '|' + spec.fieldNames.map((f, i) => ' ' + justify(f, widths[i] as number, spec.align[i] ?? 'c') + ' ').join('|') + '|'
  const lines = [rule, header, rule]
  for (const row of spec.rows) lines.push(stringifyRow(row, widths, spec.align))
  lines.push(rule)
  return lines.join('\n')
}

/**
 * cliff's `TableFormatter._assign_max_widths`: when the table is wider than `termWidth`, caps
 * the widest columns so the table fits, never below `minWidth`. Returns the per-field caps to
 * apply (empty when nothing needs to shrink).
 */
export function fitMaxWidths(spec: PrettyTableSpec, termWidth: number, minWidth: number): Map<string, number> {
  const caps = new Map<string, number>()
  if (spec.rows.length === 0 && !spec.printEmpty) return caps
  const widths = computeWidths(spec)
  const firstLineLength = widths.reduce((a, w) => a + w + 3, 1)
  if (firstLineLength <= termWidth) return caps
  const fieldCount = spec.fieldNames.length
  const usable = Math.max(0, termWidth - 1 - 3 * fieldCount)
  const optimal = fieldCount === 0 ? 0 : Math.max(0, Math.floor(usable / fieldCount))
  const shrink: string[] = []
  let remaining = usable
  spec.fieldNames.forEach((field, i) => {
    const w = widths[i] as number
    if (w <= optimal) remaining -= w
    else shrink.push(field)
  })
  if (shrink.length === 0) return caps
  const shrinkTo = Math.floor(remaining / shrink.length)
  for (const field of shrink.slice(0, -1)) {
    caps.set(field, Math.max(minWidth, shrinkTo))
    remaining -= shrinkTo
  }
  caps.set(shrink[shrink.length - 1] as string, Math.max(minWidth, remaining))
  return caps
}
