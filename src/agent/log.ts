/** One line per event, prefixed with an ISO timestamp. Callers never pass secrets. */
export type Log = (line: string) => void

export function timestampedLog(sink?: (line: string) => void): Log {
  const write = sink ?? ((line: string) => void process.stderr.write(line + '\n'))
  return (line) => write(`${new Date().toISOString()} ${line}`)
}
