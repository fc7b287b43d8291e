/**
 * cliff's formatter options of list and show commands, as data: the registrar (register.ts)
 * makes commander options of them and the fast path (fast.ts) parses with the same table,
 * so the two cannot drift apart. No imports: the fast path loads this before anything else.
 */

/** `-f` choices of list commands, sorted as argparse shows them. */
export const LIST_FORMATS = ['csv', 'json', 'table', 'value', 'yaml'] as const
/** `-f` choices of show commands, sorted as argparse shows them. */
export const SHOW_FORMATS = ['json', 'shell', 'table', 'value', 'yaml'] as const
/** `--quote` choices. */
export const QUOTE_MODES = ['all', 'minimal', 'none', 'nonnumeric'] as const

/** One output option: commander's flags string plus how its value is read. */
export interface OutputOptionSpec {
  flags: string
  help: string
  choices?: readonly string[]
  default?: string
  /** An integer value. */
  int?: boolean
  /** Given more than once, the values collect into a list. */
  repeatable?: boolean
}

/** The output options of a list or a show command, in the order help shows them. */
export function outputOptionSpecs(kind: 'list' | 'show'): OutputOptionSpec[] {
  const common: OutputOptionSpec[] = [
    { flags: '-f, --format <format>', help: 'the output format', choices: kind === 'list' ? LIST_FORMATS : SHOW_FORMATS, default: 'table' },
    { flags: '-c, --column <column>', help: 'specify the column(s) to include, can be repeated', repeatable: true },
    { flags: '--noindent', help: 'whether to disable indenting the JSON' },
    { flags: '--max-width <integer>', help: 'maximum display width, <1 to disable', int: true },
    { flags: '--fit-width', help: 'fit the table to the display width' },
    { flags: '--print-empty', help: 'print empty table if there is no data to show' },
  ]
  if (kind === 'show') return [...common, { flags: '--prefix <prefix>', help: 'add a prefix to all variable names (shell)', default: '' }]
  return [
    ...common,
    { flags: '--sort-column <SORT_COLUMN>', help: 'specify the column(s) to sort the data (columns specified first have a priority)', repeatable: true },
    { flags: '--sort-ascending', help: 'sort the column(s) in ascending order' },
    { flags: '--sort-descending', help: 'sort the column(s) in descending order' },
    { flags: '--quote <quote_mode>', help: 'when to include quotes (csv)', choices: QUOTE_MODES, default: 'nonnumeric' },
  ]
}
