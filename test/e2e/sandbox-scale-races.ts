// Races of a sandboxed lab met in the 70-instance scale run (issue 14 item 7, bench/scale.mjs). (1) The reconciler's
// sweep (sandbox-sweep.ts) keeps the instance directories it listed at its start, so a create that made its directory
// after that lost its network namespace to it ("runc run failed: invalid netns path", seen with 10 creates at once):
// creates now wait for a running sweep before they make their directory. (2) A delete removes the record before the
// directory: the reconciler's reclaim in between claimed the lab address as a loopback one (left behind).
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CLAIM_DIR } from '../../src/server/compute/addresses.js'
import { removeSandboxLab } from '../../src/server/compute/sandbox-lab.js'
import type { SandboxedCompute } from '../../src/server/compute/sandboxed.js'
import { UID_CLAIM_DIR } from '../../src/server/compute/uids.js'
import { startLab } from '../helpers/lab.js'
import { netnsOf } from '../helpers/sandbox-proc.js'

function lacking(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (netns, nft, runc)'
  for (const [tool, args] of [
    ['runc', ['--version']],
    ['nft', ['--version']],
    ['ip', ['-V']],
  ] as const) {
    try {
      execFileSync(tool, args, { stdio: 'pipe' })
    } catch {
      return `${tool} is not installed`
    }
  }
  if (!existsSync('/usr/lib/cni/bridge')) return 'the CNI bridge plugin is missing (Debian package containernetworking-plugins)'
  return undefined
}

const why = lacking()
if (why) t.plan(0, why)

/** The uid claims naming `dir` (claims.ts: a file per uid holding its owner directory). */
function uidClaimsOf(dir: string): number {
  try {
    return readdirSync(UID_CLAIM_DIR).filter((f) => {
      try {
        return readFileSync(join(UID_CLAIM_DIR, f), 'utf8') === dir
      } catch {
        return false
      }
    }).length
  } catch {
    return 0
  }
}

t.test('creates started while a sweep runs keep their namespace, address and uid', async (t) => {
  const lab = await startLab(t, { isolation: 'sandbox', reconcileMs: 0 })
  const c = lab.server.lab.compute as SandboxedCompute
  t.teardown(() => removeSandboxLab(c))

  const ids = Array.from({ length: 5 }, () => randomUUID())
  // The sweep first, then the creates in the same tick: before the fix each made its directory at once, after the
  // sweep had listed the lab's directories, and the sweep took what they attached for an orphan's.
  const sweep = c.sweep()
  const reserving = Promise.all(ids.map((id) => c.reserve(id, 'redis', new Set())))
  // Microtasks run, the sweep still in its first tool call (runc list): what have the creates made by now?
  await new Promise((r) => setImmediate(r))
  t.equal(ids.filter((id) => existsSync(c.instanceDir(id))).length, 0, 'no create made its directory while the sweep runs (they wait for it)')
  t.ok(c.sweeping(), 'the sweep was still running when looked at')
  await sweep
  const reserved = await reserving
  // Another sweep now: the instances have directories, so everything of theirs stays.
  t.same(await c.sweep(), [], 'a later sweep finds nothing to remove')
  for (const [i, id] of ids.entries()) {
    const r = reserved[i]!
    t.ok(existsSync(`/run/netns/${netnsOf(c, id)}`), `instance ${i}: its namespace is there`)
    const addrs = execFileSync('ip', ['-n', netnsOf(c, id), '-j', '-4', 'addr', 'show'], { encoding: 'utf8' })
    t.ok(addrs.includes(`"${r.address}"`), `instance ${i}: its address ${r.address} is on its interface`)
    t.equal(uidClaimsOf(c.instanceDir(id)), 1, `instance ${i}: its uid claim is there`)
  }
  t.equal(new Set(reserved.map((r) => r.address)).size, ids.length, 'each its own address')

  // Sweeps and creates interleaved, as the reconciler (every 10 s) meets a burst of creates.
  const more = Array.from({ length: 4 }, () => randomUUID())
  const done = await Promise.all([c.sweep(), ...more.map((id, i) => (i % 2 ? c.sweep().then(() => c.reserve(id, 'redis', new Set())) : c.reserve(id, 'redis', new Set())))])
  for (const id of more) t.ok(existsSync(`/run/netns/${netnsOf(c, id)}`), `interleaved create ${id.slice(0, 8)}: its namespace is there`)
  t.ok(done.length === more.length + 1)
  const names = new Map([...ids, ...more].map((id) => [id, netnsOf(c, id)]))
  for (const id of [...ids, ...more]) await c.destroy(id, null)
  for (const [id, ns] of names) t.notOk(existsSync(`/run/netns/${ns}`), `instance ${id.slice(0, 8)}: its namespace is gone after its delete`)
})

t.test("a delete's window without the record: the reconciler's reclaim makes no loopback claim for the lab address", async (t) => {
  const lab = await startLab(t, { isolation: 'sandbox', reconcileMs: 0 })
  const c = lab.server.lab.compute as SandboxedCompute
  t.teardown(() => removeSandboxLab(c))
  const id = randomUUID()
  const { address } = await c.reserve(id, 'redis', new Set())
  const claimFile = join(CLAIM_DIR, address)
  // Whatever the old code made, removed (only a claim naming this test's instance directory).
  t.teardown(() => {
    try {
      if (readFileSync(claimFile, 'utf8') === c.instanceDir(id)) rmSync(claimFile)
    } catch {
      /* none */
    }
  })
  t.ok(c.reclaim(id, address), 'a sandboxed instance: its address is its own')
  // destroy() removes the record first and the directory last; the reconciler may run in between.
  const record = readFileSync(join(c.instanceDir(id), 'sandbox.json'), 'utf8')
  unlinkSync(join(c.instanceDir(id), 'sandbox.json'))
  t.ok(c.reclaim(id, address), 'still its own without the record (a lease of the lab network)')
  t.notOk(existsSync(claimFile), `no claim ${claimFile} was made for the lab address`)
  writeFileSync(join(c.instanceDir(id), 'sandbox.json'), record)
  const ns = netnsOf(c, id)
  await c.destroy(id, null)
  t.notOk(existsSync(`/run/netns/${ns}`), 'its delete removed its namespace')
})
