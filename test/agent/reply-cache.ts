import t from 'tap'
import { ReplyCache } from '../../src/agent/reply-cache.js'

t.test('keeps the most recent ids only', async (t) => {
  const c = new ReplyCache(3)
  for (const id of ['a', 'b', 'c', 'd']) c.set(id, { id, ok: true, result: id })
  t.equal(c.size, 3)
  t.notOk(c.has('a'), 'oldest evicted')
  t.same(c.get('d'), { id: 'd', ok: true, result: 'd' })
})

t.test('casts are remembered without a reply', async (t) => {
  const c = new ReplyCache()
  c.set('x', null)
  t.ok(c.has('x'))
  t.equal(c.get('x'), null)
  t.equal(c.get('y'), undefined)
})

t.test('setting an id again makes it the newest', async (t) => {
  const c = new ReplyCache(2)
  c.set('a', null)
  c.set('b', null)
  c.set('a', null)
  c.set('c', null)
  t.ok(c.has('a'))
  t.notOk(c.has('b'))
})
