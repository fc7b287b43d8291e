import t from 'tap'
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { manPages } from '../../src/cli/man.js'
import { COMMANDS } from '../../src/cli/commands/index.js'
import { ROOT } from '../helpers/lab.js'

const dir = join(ROOT, 'man')

t.test('man/ holds exactly the generated pages, up to date', async (t) => {
  const pages = manPages()
  t.same(
    readdirSync(dir)
      .filter((f) => f.endsWith('.1'))
      .sort(),
    Object.keys(pages).sort(),
    'one page per command plus trove.1 (run `npm run man` after changing a command)',
  )
  for (const [f, text] of Object.entries(pages)) t.equal(readFileSync(join(dir, f), 'utf8'), text, `${f} is current`)
  t.equal(Object.keys(pages).length, COMMANDS.length + 1)
})

t.test('trove.1 renders and documents environment, files and exit status', async (t) => {
  const text = execFileSync('man', ['-l', join(dir, 'trove.1')], { env: { ...process.env, MANWIDTH: '100', MANPAGER: 'cat', PAGER: 'cat' } }).toString()
  for (const h of ['ENVIRONMENT', 'FILES', 'EXIT STATUS', 'OS_CLOUD', 'OS_CLIENT_CONFIG_FILE', 'clouds.yaml']) t.match(text, h)
  t.match(text, /\n\s+8\s+A --wait timed out\./)
})
