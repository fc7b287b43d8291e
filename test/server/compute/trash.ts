// The trash of deleted instances' directories (src/server/compute/trash.ts) on the real filesystem: the
// directory leaves its place at once, its removal ends in the background, a crash's leftovers are swept.
import t from 'tap'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Trash } from '../../../src/server/compute/trash.js'

function root(): string {
  const dir = mkdtempSync('/tmp/tv-trash.')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A directory of `n` files in `k` subdirectories, as an engine's data directory is. */
function tree(dir: string, n = 200, k = 5): string {
  for (let i = 0; i < n; i++) {
    const sub = join(dir, `d${i % k}`)
    mkdirSync(sub, { recursive: true })
    writeFileSync(join(sub, `f${i}`), 'x'.repeat(512))
  }
  return dir
}

t.test('discard: gone from its place at once, removed in the background; the trash ends empty', async (t) => {
  const r = root()
  const logs: string[] = []
  const trash = new Trash(join(r, 'trash'), (m) => logs.push(m))
  const dir = tree(join(r, 'instances', 'a'))
  trash.discard(dir)
  t.notOk(existsSync(dir), 'the directory is not in its place when discard returns')
  t.ok(existsSync(join(r, 'instances')), 'its parent stays')
  await trash.settled()
  t.same(readdirSync(join(r, 'trash')), [], 'nothing left in the trash once settled')
  t.same(logs, [], 'nothing logged')
})

t.test('discard of a path that is not there: nothing, no error', async (t) => {
  const r = root()
  const trash = new Trash(join(r, 'trash'), () => undefined)
  trash.discard(join(r, 'instances', 'missing'))
  await trash.settled()
  t.same(readdirSync(join(r, 'trash')), [], 'the trash is empty')
})

t.test('no trash can be made (its path is a file): the directory is removed where it is', async (t) => {
  const r = root()
  writeFileSync(join(r, 'trash'), '')
  const trash = new Trash(join(r, 'trash'), () => undefined)
  const dir = tree(join(r, 'instances', 'b'), 20)
  trash.discard(dir)
  await trash.settled()
  t.notOk(existsSync(dir), 'removed in place')
})

t.test('sweep: what a killed server left in the trash is removed at the next start, nothing else', async (t) => {
  const r = root()
  const dir = join(r, 'trash')
  tree(join(dir, 'c.left-by-a-crash'), 30)
  tree(join(dir, 'd.left-by-a-crash'), 30)
  const kept = tree(join(r, 'instances', 'live'), 10)
  const trash = new Trash(dir, () => undefined)
  trash.sweep()
  await trash.settled()
  t.same(readdirSync(dir), [], 'the leftovers are gone')
  t.ok(existsSync(kept), "a live instance's directory is untouched")
})
