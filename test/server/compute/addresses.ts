// Loopback address claims (src/server/compute/addresses.ts) keep their behaviour on the shared claim
// helper (claims.ts): exclusive, stale when the owner directory is gone, released by the owner only.
import t from 'tap'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'

const root = mkdtempSync('/tmp/tv-addr.')
t.teardown(() => rmSync(root, { recursive: true, force: true }))
process.env.TROVE_ADDRESS_CLAIMS = join(root, 'claims')
const { CLAIM_DIR, allocate, claim, release } = await import('../../../src/server/compute/addresses.js')
const owner = (name: string) => {
  const d = join(root, name)
  mkdirSync(d, { recursive: true })
  return d
}

t.test('claim, refuse, take over when stale, release by the owner only', async (t) => {
  t.equal(CLAIM_DIR, join(root, 'claims'))
  const a = owner('a')
  t.ok(claim('127.0.9.9', a))
  t.ok(claim('127.0.9.9', a), 'the owner again: still its')
  t.notOk(claim('127.0.9.9', owner('b')), 'another live owner is refused')
  release('127.0.9.9', owner('b'))
  t.equal(readFileSync(join(CLAIM_DIR, '127.0.9.9'), 'utf8'), a, 'a release by someone else changes nothing')
  rmSync(a, { recursive: true })
  t.ok(claim('127.0.9.9', owner('b')), 'taken over once the owner directory is gone')
  release('127.0.9.9', owner('b'))
  t.notOk(existsSync(join(CLAIM_DIR, '127.0.9.9')))
})

t.test('allocate: a free address, claimed, skipping those in use', async (t) => {
  const c = owner('c')
  const first = await allocate(0, c, new Set(['127.0.0.2']))
  t.not(first, '127.0.0.2')
  t.equal(readFileSync(join(CLAIM_DIR, first), 'utf8'), c)
  const second = await allocate(0, owner('d'), new Set())
  t.not(second, first, 'a claimed address is not handed out again')
  release(first, c)
  release(second, owner('d'))
  t.same(readdirSync(CLAIM_DIR), [], 'nothing left, no lock or temporary file')
})
