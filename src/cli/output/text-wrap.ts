/**
 * Python's `textwrap.fill(text, width)` with its default options, which PrettyTable uses to
 * wrap cells wider than a column's maximum width. Lengths count code points, as Python does.
 * No JavaScript wrapper has textwrap's word splitting (hyphens, sentence punctuation); the
 * `--max-width` tables of the golden test (test/e2e/golden-output.ts) check the result.
 */

const WS = '[\\t\\n\\x0b\\x0c\\r ]'
const NWS = '[^\\t\\n\\x0b\\x0c\\r ]'
const WORD = '[\\p{L}\\p{N}_]'
const WORD_PUNCT = `[\\p{L}\\p{N}_!"'&.,?]`
const LETTER = '[\\p{L}\\p{Nl}\\p{No}_]'

// The same chunking regex as CPython's TextWrapper.wordsep_re (break_on_hyphens=True).
const WORDSEP = new RegExp(
  `(${WS}+` +
    `|(?<=${WORD_PUNCT})-{2,}(?=${WORD})` +
    `|${NWS}+?(?:` +
    `-(?:(?<=${LETTER}{2}-)|(?<=${LETTER}-${LETTER}-))(?=${LETTER}-?${LETTER})` +
    `|(?=${WS}|$)` +
    `|(?<=${WORD_PUNCT})(?=-{2,}${WORD})` +
    '))',
  'u',
)

function cpLength(s: string): number {
  let n = 0
  for (const _ of s) n++
  return n
}

function cpSlice(s: string, start: number, end?: number): string {
  return Array.from(s).slice(start, end).join('')
}

/** `str.expandtabs(8)`: the column restarts after `\n` and `\r`. */
function expandTabs(text: string): string {
  let out = ''
  let col = 0
  for (const ch of text) {
    if (ch === '\t') {
      const n = 8 - (col % 8)
      out += ' '.repeat(n)
      col += n
    } else {
      out += ch
      col = ch === '\n' || ch === '\r' ? 0 : col + 1
    }
  }
  return out
}

function isBlank(s: string): boolean {
  return s.trim() === ''
}

function handleLongWord(chunks: string[], curLine: string[], curLen: number, width: number): void {
  const spaceLeft = width < 1 ? 1 : width - curLen
  const chunk = chunks[chunks.length - 1] as string
  let end = spaceLeft
  if (cpLength(chunk) > spaceLeft) {
    // Break after the last hyphen that fits, if there are non-hyphens before it.
    const head = Array.from(chunk).slice(0, spaceLeft)
    const hyphen = head.lastIndexOf('-')
    if (hyphen > 0 && head.slice(0, hyphen).some((c) => c !== '-')) end = hyphen + 1
  }
  curLine.push(cpSlice(chunk, 0, end))
  chunks[chunks.length - 1] = cpSlice(chunk, end)
}

/** `textwrap.wrap(text, width)`. */
export function wrapText(text: string, width: number): string[] {
  if (width <= 0) throw new RangeError(`invalid width ${width} (must be > 0)`)
  const munged = expandTabs(text).replace(/[\t\n\x0b\x0c\r]/g, ' ')
  const chunks = munged.split(WORDSEP).filter((c) => c !== '')
  chunks.reverse()
  const lines: string[] = []
  while (chunks.length > 0) {
    const curLine: string[] = []
    let curLen = 0
    if (isBlank(chunks[chunks.length - 1] as string) && lines.length > 0) chunks.pop()
    while (chunks.length > 0) {
      const len = cpLength(chunks[chunks.length - 1] as string)
      if (curLen + len > width) break
      curLine.push(chunks.pop() as string)
      curLen += len
    }
    if (chunks.length > 0 && cpLength(chunks[chunks.length - 1] as string) > width) {
      handleLongWord(chunks, curLine, curLen, width)
    }
    if (curLine.length > 0 && isBlank(curLine[curLine.length - 1] as string)) curLine.pop()
    if (curLine.length > 0) lines.push(curLine.join(''))
  }
  return lines
}

/** `textwrap.fill(text, width)`. */
export function fillText(text: string, width: number): string {
  return wrapText(text, width).join('\n')
}
