import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  createInstanceGroups,
  enforcement,
  enforcementText,
  hostHierarchy,
  instanceGroupDirs,
  removeInstanceGroups,
  setInstanceLimits,
  PIDS_MAX,
  type Hierarchy,
} from '../../../src/server/compute/cgroups.js'

const read = (f: string) => readFileSync(f, 'utf8').trim()

/** A directory laid out like a cgroup2 group (the kernel's files faked: the file writes are what is tested here). */
function fakeV2(t: Test, controllers: string): string {
  const d = mkdtempSync('/tmp/tv-cg2.')
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  writeFileSync(join(d, 'cgroup.controllers'), controllers)
  writeFileSync(join(d, 'cgroup.subtree_control'), '')
  return d
}

t.test('v2: one group, the controllers delegated by the parent, memory.max, cpu.max and pids.max', async (t) => {
  const root = fakeV2(t, 'cpuset cpu io memory pids')
  const h: Hierarchy = { v1: {}, v2: root }
  t.same(enforcement(h), { memory: 'v2', cpu: 'v2', pids: 'v2' })
  t.equal(enforcementText(enforcement(h)), 'memory (cgroup v2), cpu (cgroup v2), pids (cgroup v2)')
  const logs: string[] = []
  const made = createInstanceGroups('i1', 512, 2, (m) => logs.push(m), h)
  t.same(made, [join(root, 'trove-i1')])
  t.equal(read(join(root, 'cgroup.subtree_control')), '+memory +cpu +pids', 'the parent delegates the three controllers')
  t.equal(read(join(made[0]!, 'memory.max')), String(512 * 1024 * 1024))
  t.equal(read(join(made[0]!, 'cpu.max')), '200000 100000', 'two vCPUs: twice the period')
  t.equal(read(join(made[0]!, 'pids.max')), String(PIDS_MAX))
  t.same(logs, [], 'nothing to report')
  t.same(setInstanceLimits('i1', 1024, 1, h), [])
  t.same([read(join(made[0]!, 'memory.max')), read(join(made[0]!, 'cpu.max'))], [String(1024 * 1024 * 1024), '100000 100000'], 'resize follows the flavor')
  t.same(instanceGroupDirs('i1', h), made)
})

t.test('v2 without the controllers (bound to v1, or not delegated): not enforced, said so', async (t) => {
  const root = fakeV2(t, 'hugetlb')
  const h: Hierarchy = { v1: {}, v2: root }
  t.same(enforcement(h), { memory: undefined, cpu: undefined, pids: undefined })
  t.equal(enforcementText(enforcement(h)), 'not enforced (no usable memory, cpu or pids cgroup controller)')
  const logs: string[] = []
  t.same(
    createInstanceGroups('i2', 512, 1, (m) => logs.push(m), h),
    [],
  )
  t.match(logs, [/memory, cpu, pids limit not enforced/])
  t.equal(enforcementText({ memory: 'v1', cpu: undefined, pids: 'v2' }), 'memory (cgroup v1), pids (cgroup v2); cpu not enforced', 'a mix')
})

t.test('v1 first where a controller is bound there, v2 for the rest', async (t) => {
  const root = fakeV2(t, 'memory pids')
  const mem = join(root, 'v1-memory')
  mkdirSync(mem)
  const h: Hierarchy = { v1: { memory: mem }, v2: root }
  t.same(enforcement(h), { memory: 'v1', cpu: undefined, pids: 'v2' })
  const made = createInstanceGroups('i3', 256, 1, () => {}, h)
  t.same(made, [join(mem, 'trove-i3'), join(root, 'trove-i3')])
  t.equal(read(join(mem, 'trove-i3', 'memory.limit_in_bytes')), String(256 * 1024 * 1024))
  t.equal(read(join(root, 'cgroup.subtree_control')), '+pids', 'only what v2 holds is delegated')
  t.notOk(existsSync(join(root, 'trove-i3', 'memory.max')), 'memory is not set twice')
})

t.test('this host: the limits it can apply are applied by the kernel, or the test says why not', async (t) => {
  const h = hostHierarchy()
  const e = enforcement(h)
  t.comment(`this host: ${enforcementText(e)}`)
  const id = `test-${process.pid}`
  const made = createInstanceGroups(id, 300, 1, (m) => t.comment(m), h)
  t.teardown(() => removeInstanceGroups(made, 2000))
  if (!made.length) {
    t.skip(`no cgroup limit can be applied here: ${enforcementText(e)}`, () => {})
    return
  }
  for (const dir of made) {
    const v2 = existsSync(join(dir, 'cgroup.type'))
    if (existsSync(join(dir, v2 ? 'memory.max' : 'memory.limit_in_bytes'))) t.equal(read(join(dir, v2 ? 'memory.max' : 'memory.limit_in_bytes')), String(300 * 1024 * 1024), `${dir}: memory`)
    if (existsSync(join(dir, 'pids.max'))) t.equal(read(join(dir, 'pids.max')), String(PIDS_MAX), `${dir}: pids`)
    if (existsSync(join(dir, v2 ? 'cpu.max' : 'cpu.cfs_quota_us'))) t.match(read(join(dir, v2 ? 'cpu.max' : 'cpu.cfs_quota_us')), /^100000\b/, `${dir}: cpu`)
  }
  const missing = (['memory', 'cpu', 'pids'] as const).filter((l) => !e[l])
  if (missing.length) t.skip(`${missing.join(', ')}: not enforced on this host`, () => {})
})

t.test('a cgroup2 hierarchy mounted here: limits written through the kernel, or a skip with the reason', async (t) => {
  const at = mkdtempSync('/tmp/tv-cg2m.')
  t.teardown(() => rmSync(at, { recursive: true, force: true }))
  try {
    execFileSync('mount', ['-t', 'cgroup2', 'none', at], { stdio: 'pipe' })
  } catch (e) {
    t.skip(`cannot mount cgroup2: ${String((e as { stderr?: Buffer }).stderr ?? e).trim()}`, () => {})
    return
  }
  t.teardown(() => {
    try {
      execFileSync('umount', [at])
    } catch {
      /* already gone */
    }
  })
  const have = read(join(at, 'cgroup.controllers')).split(/\s+/)
  const usable = ['memory', 'cpu', 'pids'].filter((c) => have.includes(c))
  if (!usable.length) {
    t.skip(`cgroup2 here offers only "${have.join(' ')}": memory, cpu and pids are bound to cgroup v1 on this host`, () => {})
    return
  }
  const h: Hierarchy = { v1: {}, v2: at }
  const made = createInstanceGroups(`test-${process.pid}`, 300, 1, (m) => t.comment(m), h)
  t.teardown(() => removeInstanceGroups(made, 2000))
  t.equal(made.length, 1, 'one v2 group')
  if (usable.includes('memory')) t.equal(read(join(made[0]!, 'memory.max')), String(300 * 1024 * 1024), 'memory.max')
  if (usable.includes('cpu')) t.equal(read(join(made[0]!, 'cpu.max')), '100000 100000', 'cpu.max')
  if (usable.includes('pids')) t.equal(read(join(made[0]!, 'pids.max')), String(PIDS_MAX), 'pids.max')
})
