import { formatDefaultsFromEnv, type FormatOptions } from './output/index.js'
import type { IO } from './spec.js'

/** The renderer's options from a command's parsed cliff options (-f, -c, --sort-column, ...). */
export function formatOptions(opts: Record<string, unknown>, io: IO): FormatOptions {
  return {
    ...formatDefaultsFromEnv(io.env),
    format: opts.format as string,
    columns: opts.column as string[] | undefined,
    sortColumns: opts.sortColumn as string[] | undefined,
    sortDirection: opts.sortDescending ? 'desc' : 'asc',
    noindent: Boolean(opts.noindent),
    ...(opts.maxWidth !== undefined ? { maxWidth: opts.maxWidth as number } : {}),
    ...(opts.fitWidth ? { fitWidth: true } : {}),
    printEmpty: Boolean(opts.printEmpty),
    quote: opts.quote as FormatOptions['quote'],
    prefix: opts.prefix as string | undefined,
    terminalWidth: io.columns,
    stdoutIsTty: io.stdoutIsTTY,
  }
}
