/**
 * PyYAML 6 `yaml.safe_dump(value, default_flow_style=False)` for JSON-shaped values: block
 * style, keys sorted, 2-space indent with sequences not indented under mapping keys, width 80
 * folding, ASCII-only output, and strings quoted exactly when PyYAML would read them back as
 * something else (`'5.7'`, `'2024-01-01T00:05:00'`, `'yes'`, `''`).
 *
 * This is a port of PyYAML's serializer/emitter state machine rather than a configuration of
 * the `yaml` package, whose quoting and folding rules differ. Shared objects are emitted
 * twice rather than as `&id001` anchors. Bytes of the golden test (test/e2e/golden-output.ts)
 * the `yaml` package (lineWidth 80) prints otherwise: `name: "golden \u6570\u636E..."` (it
 * writes the characters raw), `datastore_version: '10.11'` and `host: '%'` (it double-quotes),
 * and a long double-quoted description folded with `\` continuations (it folds a plain scalar).
 */
import { compareCodePoints, isPlainObject, isPyInt, pyFloatRepr } from './python-repr.js'

type Implicit = readonly [boolean, boolean]
type YamlEvent =
  | { kind: 'stream-start' }
  | { kind: 'stream-end' }
  | { kind: 'document-start' }
  | { kind: 'document-end' }
  | { kind: 'scalar'; value: string; implicit: Implicit }
  | { kind: 'sequence-start' }
  | { kind: 'sequence-end' }
  | { kind: 'mapping-start' }
  | { kind: 'mapping-end' }

// PyYAML's implicit resolvers (YAML 1.1): a plain scalar matching one is not a string.
const RESOLVERS: readonly RegExp[] = [
  /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/,
  /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/,
  /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/,
  /^(?:<<)$/,
  /^(?:~|null|Null|NULL|)$/,
  /^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$/,
  /^(?:=)$/,
  /^(?:!|&|\*)$/,
]

/** Python's `re.match(r'...$')`: `$` also matches before one trailing newline. */
function resolvesToNonString(value: string): boolean {
  const candidates = value.endsWith('\n') ? [value, value.slice(0, -1)] : [value]
  return RESOLVERS.some((re) => candidates.some((c) => re.test(c)))
}

function scalarEvent(value: string, isString: boolean): YamlEvent {
  // A non-string scalar always resolves to its own tag; a string only when no resolver claims it.
  const implicit: Implicit = isString ? [!resolvesToNonString(value), true] : [true, false]
  return { kind: 'scalar', value, implicit }
}

function represent(value: unknown, events: YamlEvent[]): void {
  if (value === null || value === undefined) events.push(scalarEvent('null', false))
  else if (typeof value === 'boolean') events.push(scalarEvent(value ? 'true' : 'false', false))
  else if (typeof value === 'bigint') events.push(scalarEvent(value.toString(), false))
  else if (typeof value === 'number') {
    let text: string
    if (isPyInt(value)) text = String(value === 0 ? 0 : value)
    else if (Number.isNaN(value)) text = '.nan'
    else if (value === Infinity) text = '.inf'
    else if (value === -Infinity) text = '-.inf'
    else {
      text = pyFloatRepr(value).toLowerCase()
      if (!text.includes('.') && text.includes('e')) text = text.replace('e', '.0e')
    }
    events.push(scalarEvent(text, false))
  } else if (typeof value === 'string') events.push(scalarEvent(value, true))
  else if (value instanceof Date) events.push(scalarEvent(value.toISOString(), true))
  else if (Array.isArray(value)) {
    events.push({ kind: 'sequence-start' })
    for (const item of value) represent(item, events)
    events.push({ kind: 'sequence-end' })
  } else if (isPlainObject(value)) {
    events.push({ kind: 'mapping-start' })
    const keys = Object.keys(value).sort(compareCodePoints)
    for (const key of keys) {
      events.push(scalarEvent(key, true))
      represent(value[key], events)
    }
    events.push({ kind: 'mapping-end' })
  } else events.push(scalarEvent(String(value), true))
}

interface Analysis {
  scalar: string[]
  empty: boolean
  multiline: boolean
  allowFlowPlain: boolean
  allowBlockPlain: boolean
  allowSingleQuoted: boolean
}

const BREAKS = '\n\u0085\u2028\u2029'
const SPACE_OR_BREAK = '\0 \t\r\n\u0085\u2028\u2029'

function analyzeScalar(text: string): Analysis {
  const scalar = Array.from(text)
  const n = scalar.length
  if (n === 0) {
    return { scalar, empty: true, multiline: false, allowFlowPlain: false, allowBlockPlain: true, allowSingleQuoted: true }
  }
  let blockIndicators = false
  let flowIndicators = false
  let lineBreaks = false
  let specialCharacters = false
  let leadingSpace = false
  let leadingBreak = false
  let trailingSpace = false
  let trailingBreak = false
  let breakSpace = false
  let spaceBreak = false
  if (text.startsWith('---') || text.startsWith('...')) {
    blockIndicators = true
    flowIndicators = true
  }
  let precededByWhitespace = true
  let followedByWhitespace = n === 1 || SPACE_OR_BREAK.includes(scalar[1] as string)
  let previousSpace = false
  let previousBreak = false
  for (let index = 0; index < n; index++) {
    const ch = scalar[index] as string
    const cp = ch.codePointAt(0) as number
    if (index === 0) {
      if ('#,[]{}&*!|>\'"%@`'.includes(ch)) {
        flowIndicators = true
        blockIndicators = true
      }
      if (ch === '?' || ch === ':') {
        flowIndicators = true
        if (followedByWhitespace) blockIndicators = true
      }
      if (ch === '-' && followedByWhitespace) {
        flowIndicators = true
        blockIndicators = true
      }
    } else {
      if (',?[]{}'.includes(ch)) flowIndicators = true
      if (ch === ':') {
        flowIndicators = true
        if (followedByWhitespace) blockIndicators = true
      }
      if (ch === '#' && precededByWhitespace) {
        flowIndicators = true
        blockIndicators = true
      }
    }
    if (BREAKS.includes(ch)) lineBreaks = true
    // allow_unicode is off, so anything outside printable ASCII needs double quotes.
    if (!(ch === '\n' || (cp >= 0x20 && cp <= 0x7e))) specialCharacters = true
    if (ch === ' ') {
      if (index === 0) leadingSpace = true
      if (index === n - 1) trailingSpace = true
      if (previousBreak) breakSpace = true
      previousSpace = true
      previousBreak = false
    } else if (BREAKS.includes(ch)) {
      if (index === 0) leadingBreak = true
      if (index === n - 1) trailingBreak = true
      if (previousSpace) spaceBreak = true
      previousSpace = false
      previousBreak = true
    } else {
      previousSpace = false
      previousBreak = false
    }
    precededByWhitespace = SPACE_OR_BREAK.includes(ch)
    followedByWhitespace = index + 2 >= n || SPACE_OR_BREAK.includes(scalar[index + 2] as string)
  }
  let allowFlowPlain = true
  let allowBlockPlain = true
  let allowSingleQuoted = true
  if (leadingSpace || leadingBreak || trailingSpace || trailingBreak) allowFlowPlain = allowBlockPlain = false
  if (breakSpace) allowFlowPlain = allowBlockPlain = allowSingleQuoted = false
  if (spaceBreak || specialCharacters) allowFlowPlain = allowBlockPlain = allowSingleQuoted = false
  if (lineBreaks) allowFlowPlain = allowBlockPlain = false
  if (flowIndicators) allowFlowPlain = false
  if (blockIndicators) allowBlockPlain = false
  return { scalar, empty: false, multiline: lineBreaks, allowFlowPlain, allowBlockPlain, allowSingleQuoted }
}

const ESCAPES: Readonly<Record<string, string>> = {
  '\0': '0',
  '\x07': 'a',
  '\x08': 'b',
  '\x09': 't',
  '\x0a': 'n',
  '\x0b': 'v',
  '\x0c': 'f',
  '\x0d': 'r',
  '\x1b': 'e',
  '"': '"',
  '\\': '\\',
  '\x85': 'N',
  '\xa0': '_',
  '\u2028': 'L',
  '\u2029': 'P',
}

type State = () => void

class Emitter {
  private readonly out: string[] = []
  private pos = 0
  private event: YamlEvent | undefined
  private readonly states: State[] = []
  private state: State = () => this.expectStreamStart()
  private readonly indents: (number | null)[] = []
  private indent: number | null = null
  private flowLevel = 0
  private rootContext = false
  private mappingContext = false
  private simpleKeyContext = false
  private column = 0
  private whitespace = true
  private indention = true
  private openEnded = false
  private readonly bestIndent = 2
  private readonly bestWidth = 80
  private analysis: Analysis | null = null
  private style: '' | "'" | '"' | null = null

  constructor(private readonly events: readonly YamlEvent[]) {}

  run(): string {
    while (this.pos < this.events.length) {
      this.event = this.events[this.pos++]
      this.state()
    }
    return this.out.join('')
  }

  private next(): YamlEvent | undefined {
    return this.events[this.pos]
  }

  private popState(): void {
    this.state = this.states.pop() as State
  }

  private popIndent(): void {
    this.indent = this.indents.pop() as number | null
  }

  private increaseIndent(flow: boolean, indentless = false): void {
    this.indents.push(this.indent)
    if (this.indent === null) this.indent = flow ? this.bestIndent : 0
    else if (!indentless) this.indent += this.bestIndent
  }

  private expectStreamStart(): void {
    this.state = () => this.expectDocumentStart(true)
  }

  private expectDocumentStart(first: boolean): void {
    if (this.event?.kind === 'document-start') {
      if (!first) {
        this.writeIndent()
        this.writeIndicator('---', true)
      }
      this.state = () => this.expectDocumentRoot()
    } else {
      if (this.openEnded) {
        this.writeIndicator('...', true)
        this.writeIndent()
      }
      this.state = () => {
        throw new Error('yaml emitter: expected nothing')
      }
    }
  }

  private expectDocumentEnd(): void {
    this.writeIndent()
    this.state = () => this.expectDocumentStart(false)
  }

  private expectDocumentRoot(): void {
    this.states.push(() => this.expectDocumentEnd())
    this.expectNode({ root: true })
  }

  private expectNode(ctx: { root?: boolean; mapping?: boolean; simpleKey?: boolean }): void {
    this.rootContext = ctx.root ?? false
    this.mappingContext = ctx.mapping ?? false
    this.simpleKeyContext = ctx.simpleKey ?? false
    const ev = this.event as YamlEvent
    if (ev.kind === 'scalar') {
      this.processTag(ev)
      this.increaseIndent(true)
      this.processScalar(ev)
      this.popIndent()
      this.popState()
    } else if (ev.kind === 'sequence-start') {
      if (this.flowLevel > 0 || this.next()?.kind === 'sequence-end') this.expectFlowCollection('[', ']')
      else {
        this.increaseIndent(false, this.mappingContext && !this.indention)
        this.state = () => this.expectBlockSequenceItem(true)
      }
    } else if (ev.kind === 'mapping-start') {
      if (this.flowLevel > 0 || this.next()?.kind === 'mapping-end') this.expectFlowCollection('{', '}')
      else {
        this.increaseIndent(false)
        this.state = () => this.expectBlockMappingKey(true)
      }
    } else {
      throw new Error(`yaml emitter: expected a node, got ${ev.kind}`)
    }
  }

  // Flow collections only ever appear empty here ([] and {}), since the dump is block style.
  private expectFlowCollection(open: string, close: string): void {
    this.writeIndicator(open, true, true)
    this.flowLevel++
    this.increaseIndent(true)
    this.state = () => {
      this.popIndent()
      this.flowLevel--
      this.writeIndicator(close, false)
      this.popState()
    }
  }

  private expectBlockSequenceItem(first: boolean): void {
    if (!first && this.event?.kind === 'sequence-end') {
      this.popIndent()
      this.popState()
      return
    }
    this.writeIndent()
    this.writeIndicator('-', true, false, true)
    this.states.push(() => this.expectBlockSequenceItem(false))
    this.expectNode({})
  }

  private expectBlockMappingKey(first: boolean): void {
    if (!first && this.event?.kind === 'mapping-end') {
      this.popIndent()
      this.popState()
      return
    }
    this.writeIndent()
    if (this.checkSimpleKey()) {
      this.states.push(() => this.expectBlockMappingSimpleValue())
      this.expectNode({ mapping: true, simpleKey: true })
    } else {
      this.writeIndicator('?', true, false, true)
      this.states.push(() => this.expectBlockMappingValue())
      this.expectNode({ mapping: true })
    }
  }

  private expectBlockMappingSimpleValue(): void {
    this.writeIndicator(':', false)
    this.states.push(() => this.expectBlockMappingKey(false))
    this.expectNode({ mapping: true })
  }

  private expectBlockMappingValue(): void {
    this.writeIndent()
    this.writeIndicator(':', true, false, true)
    this.states.push(() => this.expectBlockMappingKey(false))
    this.expectNode({ mapping: true })
  }

  private checkSimpleKey(): boolean {
    const ev = this.event as YamlEvent
    if (ev.kind !== 'scalar') return false
    this.analysis ??= analyzeScalar(ev.value)
    // The serializer tags every key (`!!str`, 5 characters), which counts towards the limit.
    const length = 5 + this.analysis.scalar.length
    return length < 128 && !this.analysis.empty && !this.analysis.multiline
  }

  private processTag(ev: Extract<YamlEvent, { kind: 'scalar' }>): void {
    this.style ??= this.chooseScalarStyle(ev)
    if ((this.style === '' && ev.implicit[0]) || (this.style !== '' && ev.implicit[1])) return
    throw new Error(`yaml emitter: scalar ${JSON.stringify(ev.value)} would need an explicit tag`)
  }

  private chooseScalarStyle(ev: Extract<YamlEvent, { kind: 'scalar' }>): '' | "'" | '"' {
    const a = (this.analysis ??= analyzeScalar(ev.value))
    if (ev.implicit[0]) {
      if (!(this.simpleKeyContext && (a.empty || a.multiline)) && ((this.flowLevel > 0 && a.allowFlowPlain) || (this.flowLevel === 0 && a.allowBlockPlain))) {
        return ''
      }
    }
    if (a.allowSingleQuoted && !(this.simpleKeyContext && a.multiline)) return "'"
    return '"'
  }

  private processScalar(ev: Extract<YamlEvent, { kind: 'scalar' }>): void {
    const a = (this.analysis ??= analyzeScalar(ev.value))
    const style = (this.style ??= this.chooseScalarStyle(ev))
    const split = !this.simpleKeyContext
    if (style === '"') this.writeDoubleQuoted(a.scalar, split)
    else if (style === "'") this.writeSingleQuoted(a.scalar, split)
    else this.writePlain(a.scalar, split)
    this.analysis = null
    this.style = null
  }

  private write(data: string): void {
    this.out.push(data)
  }

  private writeIndicator(indicator: string, needWhitespace: boolean, whitespace = false, indention = false): void {
    const data = this.whitespace || !needWhitespace ? indicator : ' ' + indicator
    this.whitespace = whitespace
    this.indention = this.indention && indention
    this.column += data.length
    this.openEnded = false
    this.write(data)
  }

  private writeIndent(): void {
    const indent = this.indent ?? 0
    if (!this.indention || this.column > indent || (this.column === indent && !this.whitespace)) {
      this.writeLineBreak()
    }
    if (this.column < indent) {
      this.whitespace = true
      this.write(' '.repeat(indent - this.column))
      this.column = indent
    }
  }

  private writeLineBreak(data = '\n'): void {
    this.whitespace = true
    this.indention = true
    this.column = 0
    this.write(data)
  }

  private writeText(chars: readonly string[], start: number, end: number): void {
    this.column += end - start
    this.write(chars.slice(start, end).join(''))
  }

  private writeBreaks(text: readonly string[], start: number, end: number): void {
    if (text[start] === '\n') this.writeLineBreak()
    for (const br of text.slice(start, end)) this.writeLineBreak(br)
    this.writeIndent()
  }

  private writeSingleQuoted(text: readonly string[], split: boolean): void {
    this.writeIndicator("'", true)
    let spaces = false
    let breaks = false
    let start = 0
    for (let end = 0; end <= text.length; end++) {
      const ch = end < text.length ? (text[end] as string) : null
      if (spaces) {
        if (ch !== ' ') {
          if (start + 1 === end && this.column > this.bestWidth && split && start !== 0 && end !== text.length) {
            this.writeIndent()
          } else {
            this.writeText(text, start, end)
          }
          start = end
        }
      } else if (breaks) {
        if (ch === null || !BREAKS.includes(ch)) {
          this.writeBreaks(text, start, end)
          start = end
        }
      } else if (ch === null || ` ${BREAKS}`.includes(ch) || ch === "'") {
        if (start < end) {
          this.writeText(text, start, end)
          start = end
        }
      }
      if (ch === "'") {
        this.column += 2
        this.write("''")
        start = end + 1
      }
      if (ch !== null) {
        spaces = ch === ' '
        breaks = BREAKS.includes(ch)
      }
    }
    this.writeIndicator("'", false)
  }

  private writeDoubleQuoted(text: readonly string[], split: boolean): void {
    this.writeIndicator('"', true)
    let start = 0
    for (let end = 0; end <= text.length; end++) {
      const ch = end < text.length ? (text[end] as string) : null
      const cp = ch === null ? 0 : (ch.codePointAt(0) as number)
      if (ch === null || '"\\\u0085\u2028\u2029\ufeff'.includes(ch) || !(cp >= 0x20 && cp <= 0x7e)) {
        if (start < end) {
          this.writeText(text, start, end)
          start = end
        }
        if (ch !== null) {
          let data: string
          const named = ESCAPES[ch]
          if (named !== undefined) data = '\\' + named
          else if (cp <= 0xff) data = '\\x' + cp.toString(16).toUpperCase().padStart(2, '0')
          else if (cp <= 0xffff) data = '\\u' + cp.toString(16).toUpperCase().padStart(4, '0')
          else data = '\\U' + cp.toString(16).toUpperCase().padStart(8, '0')
          this.column += data.length
          this.write(data)
          start = end + 1
        }
      }
      if (end > 0 && end < text.length - 1 && (ch === ' ' || start >= end) && this.column + (end - start) > this.bestWidth && split) {
        const data = text.slice(start, end).join('') + '\\'
        if (start < end) start = end
        this.column += data.length
        this.write(data)
        this.writeIndent()
        this.whitespace = false
        this.indention = false
        if (text[start] === ' ') {
          this.column += 1
          this.write('\\')
        }
      }
    }
    this.writeIndicator('"', false)
  }

  private writePlain(text: readonly string[], split: boolean): void {
    if (this.rootContext) this.openEnded = true
    if (text.length === 0) return
    if (!this.whitespace) {
      this.column += 1
      this.write(' ')
    }
    this.whitespace = false
    this.indention = false
    let spaces = false
    let breaks = false
    let start = 0
    for (let end = 0; end <= text.length; end++) {
      const ch = end < text.length ? (text[end] as string) : null
      if (spaces) {
        if (ch !== ' ') {
          if (start + 1 === end && this.column > this.bestWidth && split) {
            this.writeIndent()
            this.whitespace = false
            this.indention = false
          } else {
            this.writeText(text, start, end)
          }
          start = end
        }
      } else if (breaks) {
        if (ch === null || !BREAKS.includes(ch)) {
          this.writeBreaks(text, start, end)
          this.whitespace = false
          this.indention = false
          start = end
        }
      } else if (ch === null || ` ${BREAKS}`.includes(ch)) {
        this.writeText(text, start, end)
        start = end
      }
      if (ch !== null) {
        spaces = ch === ' '
        breaks = BREAKS.includes(ch)
      }
    }
  }
}

/** `yaml.safe_dump(value, default_flow_style=False)`: the document text, ending in a newline. */
export function pyYamlSafeDump(value: unknown): string {
  const events: YamlEvent[] = [{ kind: 'stream-start' }, { kind: 'document-start' }]
  represent(value, events)
  events.push({ kind: 'document-end' }, { kind: 'stream-end' })
  return new Emitter(events).run()
}
