import { exactJson } from './client-factory.js'
import { CliError } from './errors.js'

/**
 * Parses a `<values>` JSON argument (configuration create/set/parameter set). Invalid JSON
 * fails before any request with the text Python's json module gives, as the openstack
 * client prints it, e.g. `Expecting value: line 1 column 1 (char 0)`.
 */
export function parseValues(s: string): Record<string, unknown> {
  const problem = pythonJsonError(s)
  if (problem) throw new CliError(problem)
  try {
    // Integers beyond 2^53 stay exact (bigints), as Python reads them.
    return exactJson(s) as Record<string, unknown>
  } catch {
    // NaN and Infinity: Python reads them, JSON cannot carry them to the server.
    throw new CliError(`values must be plain JSON: ${s}`)
  }
}

/** The message of Python's json.loads for `s`, or undefined when Python accepts it. */
export function pythonJsonError(s: string): string | undefined {
  const at = (msg: string, pos: number) => {
    const before = s.slice(0, pos)
    const line = before.split('\n').length
    const col = pos - (before.lastIndexOf('\n') + 1) + 1
    return `${msg}: line ${line} column ${col} (char ${pos})`
  }
  const ws = (i: number) => {
    while (i < s.length && ' \t\n\r'.includes(s[i])) i++
    return i
  }
  class Fail {
    constructor(readonly text: string) {}
  }
  const str = (i: number): number => {
    // s[i] is the opening quote
    const start = i
    i++
    for (;;) {
      if (i >= s.length) throw new Fail(at('Unterminated string starting at', start))
      const c = s[i]
      if (c === '"') return i + 1
      if (c === '\\') {
        const e = s[i + 1]
        if (e === undefined) throw new Fail(at('Unterminated string starting at', start))
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(s.slice(i + 2, i + 6))) throw new Fail(at('Invalid \\uXXXX escape', i + 1))
          i += 6
          continue
        }
        if (!'"\\/bfnrt'.includes(e)) throw new Fail(at('Invalid \\escape', i))
        i += 2
        continue
      }
      if (c.charCodeAt(0) < 0x20) throw new Fail(at('Invalid control character at', i))
      i++
    }
  }
  const value = (i: number): number => {
    const c = s[i]
    if (c === '"') return str(i)
    if (c === '{') {
      i = ws(i + 1)
      if (s[i] === '}') return i + 1
      for (;;) {
        if (s[i] !== '"') throw new Fail(at('Expecting property name enclosed in double quotes', i))
        i = ws(str(i))
        if (s[i] !== ':') throw new Fail(at("Expecting ':' delimiter", i))
        i = value(ws(i + 1))
        i = ws(i)
        if (s[i] === '}') return i + 1
        if (s[i] !== ',') throw new Fail(at("Expecting ',' delimiter", i))
        i = ws(i + 1)
      }
    }
    if (c === '[') {
      i = ws(i + 1)
      if (s[i] === ']') return i + 1
      for (;;) {
        i = ws(value(i))
        if (s[i] === ']') return i + 1
        if (s[i] !== ',') throw new Fail(at("Expecting ',' delimiter", i))
        i = ws(i + 1)
      }
    }
    for (const lit of ['null', 'true', 'false', 'NaN', 'Infinity', '-Infinity']) if (s.startsWith(lit, i)) return i + lit.length
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?/.exec(s.slice(i))
    if (m && m[0] !== '' && m[0] !== '-') return i + m[0].length
    throw new Fail(at('Expecting value', i))
  }
  try {
    const end = ws(value(ws(0)))
    if (end !== s.length) return at('Extra data', end)
    return undefined
  } catch (e) {
    if (e instanceof Fail) return e.text
    throw e
  }
}
