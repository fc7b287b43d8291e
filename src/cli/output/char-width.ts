/**
 * Terminal cell width of text, after the `wcwidth` Python package PrettyTable measures with:
 * East Asian wide characters take two cells, combining marks none, and any control character
 * makes the whole string's width -1 (PrettyTable then pads as if it were one cell narrower).
 * Wide and fullwidth come from get-east-asian-width; the zero-width and control-character
 * rules are wcwidth's own (no library has its -1), which the CJK rows of the golden test
 * (test/e2e/golden-output.ts) and test/cli/output/width.ts check.
 */

import { eastAsianWidth } from 'get-east-asian-width'

const ANSI = /\u001b\[[0-9;]*m|\u001b\(B/g
// biome-ignore lint/suspicious/noMisleadingCharacterClass: each class member is tested alone, one code point at a time
const ZERO_WIDTH = /^[\p{Mn}\p{Me}\u034f\u200b-\u200f\u2028-\u202e\u2060-\u2063]$/u

/** Width of one code point: -1 for control characters, 0, 1 or 2. */
export function charWidth(ch: string): number {
  const cp = ch.codePointAt(0) as number
  if (cp === 0) return 0
  if (cp < 32 || (cp >= 0x7f && cp < 0xa0)) return -1
  if (ZERO_WIDTH.test(ch)) return 0
  return eastAsianWidth(cp)
}

/** PrettyTable's `_str_block_width`: `wcswidth` of the text without ANSI colour codes. */
export function blockWidth(text: string): number {
  let width = 0
  for (const ch of text.replace(ANSI, '')) {
    const w = charWidth(ch)
    if (w < 0) return -1
    width += w
  }
  return width
}
