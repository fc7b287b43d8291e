// README's performance figures are BENCHMARKS.md's (issue 11): every figure the Performance
// section gives (a number with its unit) is one that BENCHMARKS.md records, written the same way,
// so a re-measured benchmark cannot leave a stale figure in the README unnoticed.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from './helpers/lab.js'

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
const benchmarks = readFileSync(join(ROOT, 'BENCHMARKS.md'), 'utf8')

/** The figures of a text: number (thousands separators dropped) and unit. */
export function figures(text: string): string[] {
  return [...text.matchAll(/(\d[\d,]*(?:\.\d+)?)(?: ?(ms|s|MB|%)|(x)|( requests\/s))(?![\w/])/g)].map((m) => `${m[1]!.replace(/,/g, '')}${m[2] ? ` ${m[2]}` : m[3] ? 'x' : ' requests/s'}`)
}

/** Whether BENCHMARKS.md records `figure` (a throughput as the bare number of its table column). */
function recorded(figure: string): boolean {
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const [num, unit] = figure.endsWith(' requests/s') ? [figure.slice(0, -' requests/s'.length), ''] : [figure, '']
  // BENCHMARKS.md may group thousands (1,280 s where README's figure is read as 1280 s).
  const grouped = esc(num + unit).replace(/^(\d+)/, (int) => int.replace(/\B(?=(\d{3})+$)/g, ',?'))
  return new RegExp(`(?<![\\d.])(?<!\\d,)${grouped}(?![\\d])`, 'm').test(benchmarks)
}

t.test('figures(): numbers with their units', async (t) => {
  t.same(figures('about 0.16 s, p99 5.09 ms, 118 MB, 10.0 %, 1.12x, 6,089 requests/s; 2 cores, 50 instances'), ['0.16 s', '5.09 ms', '118 MB', '10.0 %', '1.12x', '6089 requests/s'])
})

t.test('recorded(): thousands grouped or not, never another number', async (t) => {
  t.ok(recorded('1280 s'), 'BENCHMARKS.md writes 1,280 s')
  t.notOk(recorded('280 s'), 'not the end of a larger number (1,280 s)')
  t.notOk(recorded('1281 s'), 'a figure it does not have')
})

t.test("README's Performance figures are BENCHMARKS.md's", async (t) => {
  const start = readme.indexOf('\n## Performance')
  t.ok(start >= 0, 'README has a Performance section')
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1))
  const found = figures(section)
  t.ok(found.length >= 10, `${found.length} figures in README's Performance section`)
  t.same(
    found.filter((f) => !recorded(f)),
    [],
    'each is in BENCHMARKS.md',
  )
})
