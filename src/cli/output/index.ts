/**
 * Output rendering for every command: commands return a `CommandData` value and `render`
 * turns it into the exact text `openstack` (cliff 4.0 formatters, PrettyTable, Python's json,
 * csv and PyYAML) would print for the same data and options.
 */
import { CsvError, csvRow, type QuoteMode } from './csv-format.js'
import { pyJsonDumps } from './json-format.js'
import { fitMaxWidths, prettyTableString, type Align, type PrettyTableSpec } from './pretty-table.js'
import { compareCodePoints, pyEq, pyLt, PyTypeError, pyRepr, pyStr, pyTupleRepr } from './python-repr.js'
import { LIST_FORMATS, QUOTE_MODES, SHOW_FORMATS } from './option-specs.js'
import { pyYamlSafeDump } from './yaml-format.js'

/** Rows of a list ("Lister") command; `columns` fixes the column order. */
export interface ListData {
  kind: 'list'
  columns: string[]
  rows: unknown[][]
}

/**
 * One object ("ShowOne") command; rendered sorted by field name. Fields whose value is
 * `undefined` are left out (absent, as in the Python dict); use `null` to print `None`.
 */
export interface ShowData {
  kind: 'show'
  fields: Record<string, unknown>
  /** Human text for some fields in the table format only (machine formats keep the wire value). */
  display?: Record<string, string>
}

/**
 * Several objects of one command (`instance create --replica-count N --wait`): the table,
 * shell and value formats print each one as `show` does, one after another; json and yaml
 * print one list of them, so the output stays one document.
 */
export interface ShowsData {
  kind: 'shows'
  items: ShowData[]
}

/** What a command returns: a list, one object, several, nothing, or plain lines for stdout. */
export type CommandData = ListData | ShowData | ShowsData | { kind: 'none' } | { kind: 'lines'; lines: string[] } | { kind: 'exit'; code: number }

/** The output options cliff adds to list and show commands. */
export interface FormatOptions {
  /** `-f`: list: table|csv|json|value|yaml; show: table|json|shell|value|yaml (default table). */
  format?: string
  /** `-c`, repeatable; keeps the command's column order. */
  columns?: string[]
  /** `--sort-column`, repeatable (list only; unknown names ignored). */
  sortColumns?: string[]
  /** `--sort-ascending` / `--sort-descending`. */
  sortDirection?: 'asc' | 'desc'
  /** `--noindent` (json). */
  noindent?: boolean
  /** `--max-width` or env CLIFF_MAX_TERM_WIDTH; below 1 disables (see `formatDefaultsFromEnv`). */
  maxWidth?: number
  /** `--fit-width` or CLIFF_FIT_WIDTH=1: fit tables to `terminalWidth`. */
  fitWidth?: boolean
  /** `--print-empty` (list table only). */
  printEmpty?: boolean
  /** `--quote` (csv, default nonnumeric). */
  quote?: 'all' | 'minimal' | 'none' | 'nonnumeric'
  /** `--prefix` (shell). */
  prefix?: string
  /** Terminal columns, used by fitWidth and stdoutIsTty. */
  terminalWidth?: number
  /** cliff fits tables to the terminal whenever stdout is a TTY, as if `--fit-width` were given. */
  stdoutIsTty?: boolean
}

/** An output option error; `exitCode` is 2 for what argparse rejects (bad choices), else 1. */
export class OutputError extends Error {
  override name = 'OutputError'
  /** The exit code the real client uses for this error. */
  readonly exitCode: 1 | 2
  constructor(message: string, exitCode: 1 | 2 = 1) {
    super(message)
    this.exitCode = exitCode
  }
}

export { LIST_FORMATS, QUOTE_MODES, SHOW_FORMATS } from './option-specs.js'

/** Minimum column widths cliff keeps when wrapping: lists 8, show tables 16. */
const LIST_MIN_WIDTH = 8
const SHOW_MIN_WIDTH = 16

function invalidChoice(option: string, value: string, choices: readonly string[]): OutputError {
  return new OutputError(`argument ${option}: invalid choice: ${pyRepr(value)} (choose from ${choices.map((c) => pyRepr(c)).join(', ')})`, 2)
}

function checkChoice<T extends string>(option: string, value: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value)) throw invalidChoice(option, value, choices)
  return value as T
}

/**
 * Defaults cliff takes from the environment: `CLIFF_MAX_TERM_WIDTH` (an integer) and
 * `CLIFF_FIT_WIDTH` (an integer, non-zero enables). Flags given on the command line win.
 */
export function formatDefaultsFromEnv(env: Record<string, string | undefined>): Pick<FormatOptions, 'maxWidth' | 'fitWidth'> {
  const parse = (name: string): number | undefined => {
    const raw = env[name]
    if (raw === undefined || raw === '') return undefined
    if (!/^\s*[-+]?\d+\s*$/.test(raw)) throw new OutputError(`invalid ${name} ${pyRepr(raw)}: expected an integer`)
    return Number.parseInt(raw, 10)
  }
  const out: Pick<FormatOptions, 'maxWidth' | 'fitWidth'> = {}
  const maxWidth = parse('CLIFF_MAX_TERM_WIDTH')
  if (maxWidth !== undefined) out.maxWidth = maxWidth
  const fit = parse('CLIFF_FIT_WIDTH')
  if (fit !== undefined) out.fitWidth = fit !== 0
  return out
}

/** The text of one table/value/shell cell: Python's `str()`, with cliff's carriage-return clean-up. */
function cellText(value: unknown): string {
  if (typeof value === 'string') return value.replace(/\r\n/g, '\n').replace(/\r/g, ' ')
  return pyStr(value)
}

/** The width to fit tables to, following cliff's `_assign_max_widths`, or undefined for none. */
function fitTarget(opts: FormatOptions): number | undefined {
  const max = opts.maxWidth ?? 0
  if (max > 0) return max
  if (!(opts.fitWidth || opts.stdoutIsTty)) return undefined
  return opts.terminalWidth !== undefined && opts.terminalWidth > 0 ? opts.terminalWidth : undefined
}

function renderTable(spec: PrettyTableSpec, opts: FormatOptions, minWidth: number): string {
  const target = fitTarget(opts)
  const maxWidth = target === undefined ? undefined : fitMaxWidths(spec, target, minWidth)
  return prettyTableString(maxWidth === undefined ? spec : { ...spec, maxWidth }) + '\n'
}

/** cliff's column selection: keeps the command's order; throws when no name is recognised. */
function selectColumns(names: readonly string[], wanted: readonly string[] | undefined, namesRepr: string): boolean[] | undefined {
  if (wanted === undefined || wanted.length === 0) return undefined
  const selector = names.map((n) => wanted.includes(n))
  if (!selector.some(Boolean)) {
    throw new OutputError(`No recognized column names in ${pyRepr([...wanted])}. Recognized columns are ${namesRepr}.`)
  }
  return selector
}

function sortKeyLess(a: unknown, b: unknown): boolean {
  // cliff sorts on the key (value is None, value): None last, and never compares None to a value.
  const aNone = a === null || a === undefined
  const bNone = b === null || b === undefined
  if (aNone !== bNone) return bNone
  if (aNone || pyEq(a, b)) return false
  return pyLt(a, b)
}

/** cliff's `--sort-column`: stable sorts from the last column to the first; unsortable columns are skipped. */
function sortRows(columns: readonly string[], rows: readonly unknown[][], opts: FormatOptions): unknown[][] {
  let data = [...rows]
  const sortColumns = opts.sortColumns ?? []
  const indexes = sortColumns.filter((c) => columns.includes(c)).map((c) => columns.indexOf(c))
  const reverse = opts.sortDirection === 'desc'
  for (const index of [...indexes].reverse()) {
    try {
      data = [...data].sort((x, y) => {
        const [a, b] = reverse ? [y[index], x[index]] : [x[index], y[index]]
        if (sortKeyLess(a, b)) return -1
        if (sortKeyLess(b, a)) return 1
        return 0
      })
    } catch (err) {
      // Like cliff: sorting is best effort, a column of mixed types is left as it was.
      if (!(err instanceof PyTypeError)) throw err
    }
  }
  return data
}

function renderList(data: ListData, opts: FormatOptions): string {
  const format = checkChoice('-f/--format', opts.format ?? 'table', LIST_FORMATS)
  const quote = checkChoice('--quote', opts.quote ?? 'nonnumeric', QUOTE_MODES)
  const sorted = sortRows(data.columns, data.rows, opts)
  const selector = selectColumns(data.columns, opts.columns, pyRepr(data.columns))
  const pick = <T>(items: readonly T[]): T[] => (selector ? items.filter((_, i) => selector[i]) : [...items])
  const columns = pick(data.columns)
  const rows = sorted.map((row) => pick(row))
  switch (format) {
    case 'table': {
      const first = rows[0]
      const align: Align[] = columns.map((_, i) => {
        if (first === undefined) return 'c'
        const v = first[i]
        return typeof v === 'number' || typeof v === 'bigint' ? 'r' : 'l'
      })
      const spec: PrettyTableSpec = {
        fieldNames: columns,
        rows: rows.map((row) => row.map(cellText)),
        align,
        printEmpty: opts.printEmpty ?? false,
      }
      return renderTable(spec, opts, LIST_MIN_WIDTH)
    }
    case 'csv':
      try {
        return csvRow(columns, quote as QuoteMode) + rows.map((row) => csvRow(row, quote as QuoteMode)).join('')
      } catch (err) {
        if (err instanceof CsvError) throw new OutputError(err.message)
        throw err
      }
    case 'json': {
      const items = rows.map((row) => Object.fromEntries(columns.map((c, i) => [c, row[i]])))
      return pyJsonDumps(items, opts.noindent ? null : 2) + '\n'
    }
    case 'value':
      return rows.map((row) => row.map((v) => pyStr(v)).join(' ') + '\n').join('')
    case 'yaml':
      return pyYamlSafeDump(rows.map((row) => Object.fromEntries(columns.map((c, i) => [c, row[i]]))))
  }
}

function shellName(name: string): string {
  return name.toLowerCase().replace(/ /g, '_').replace(/:/g, '_').replace(/-/g, '_')
}

/** The fields a show prints, sorted by name, after `-c`. */
function showEntries(data: ShowData, opts: FormatOptions): { names: string[]; values: unknown[] } {
  const allNames = Object.keys(data.fields)
    .filter((n) => data.fields[n] !== undefined)
    .sort(compareCodePoints)
  const selector = selectColumns(allNames, opts.columns, pyTupleRepr(allNames))
  const names = selector ? allNames.filter((_, i) => selector[i]) : allNames
  return { names, values: names.map((n) => data.fields[n]) }
}

function renderShows(data: ShowsData, opts: FormatOptions): string {
  const format = checkChoice('-f/--format', opts.format ?? 'table', SHOW_FORMATS)
  if (format !== 'json' && format !== 'yaml') return data.items.map((d) => renderShow(d, opts)).join('')
  const objects = data.items.map((d) => {
    const { names, values } = showEntries(d, opts)
    return Object.fromEntries(names.map((n, i) => [n, values[i]]))
  })
  return format === 'json' ? pyJsonDumps(objects, opts.noindent ? null : 2) + '\n' : pyYamlSafeDump(objects)
}

function renderShow(data: ShowData, opts: FormatOptions): string {
  const format = checkChoice('-f/--format', opts.format ?? 'table', SHOW_FORMATS)
  const { names, values } = showEntries(data, opts)
  switch (format) {
    case 'table': {
      const spec: PrettyTableSpec = {
        fieldNames: ['Field', 'Value'],
        rows: names.map((n, i) => [cellText(n), data.display?.[n] ?? cellText(values[i])]),
        align: ['l', 'l'],
        printEmpty: false,
      }
      return renderTable(spec, opts, SHOW_MIN_WIDTH)
    }
    case 'json':
      return pyJsonDumps(Object.fromEntries(names.map((n, i) => [n, values[i]])), opts.noindent ? null : 2) + '\n'
    case 'shell': {
      const prefix = opts.prefix ?? ''
      return names
        .map((n, i) => {
          const v = values[i]
          const text = typeof v === 'string' ? v.replace(/"/g, '\\"') : pyStr(v)
          return `${prefix}${shellName(n)}="${text}"\n`
        })
        .join('')
    }
    case 'value':
      return values.map((v) => pyStr(v) + '\n').join('')
    case 'yaml':
      // cliff dumps each field as its own one-key document.
      return names.map((n, i) => pyYamlSafeDump({ [n]: values[i] })).join('')
  }
}

/**
 * The exact text for stdout: '' for `none`, each line plus '\n' for `lines`, and for lists and
 * shows what cliff prints (always ending in '\n'; an empty list table is just '\n').
 * Throws OutputError for a bad `-f`/`--quote` (exitCode 2) or when `-c` names no column.
 */
export function render(data: CommandData, opts: FormatOptions = {}): string {
  switch (data.kind) {
    case 'none':
    case 'exit':
      return ''
    case 'lines':
      return data.lines.map((l) => l + '\n').join('')
    case 'list':
      return renderList(data, opts)
    case 'show':
      return renderShow(data, opts)
    case 'shows':
      return renderShows(data, opts)
  }
}

/** Python `repr()` / `str()` of JSON-shaped values, for commands that build cells themselves. */
export { pyRepr, pyStr } from './python-repr.js'
