// The sandboxed driver's pure parts (the driver itself runs for real in test/e2e/isolation-sandbox.ts).
import t from 'tap'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { sandboxCgroupDirs, sandboxCgroupParent, sandboxCgroupPath } from '../../../src/server/compute/sandbox.js'
import { firewallCidrs, labIdOf, sandboxHostProblem } from '../../../src/server/compute/sandbox-host.js'
import { isolationFromEnv } from '../../../src/server/lab-state.js'
import { buildServer } from '../../helpers/lab.js'

t.test('a host lacking a tool is refused in one line naming it and its package', async (t) => {
  const dir = mkdtempSync('/tmp/tv-preflight.')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const bin = join(dir, 'bin')
  const cni = join(dir, 'cni')
  mkdirSync(bin)
  mkdirSync(cni)
  t.equal(sandboxHostProblem({ uid: 1000 }), '--isolation sandbox needs root (loop devices, mounts, network namespaces, nftables, runc)')
  t.equal(sandboxHostProblem({ uid: 0, path: bin, cniPath: cni }), '--isolation sandbox needs runc, which is not installed (Debian package runc)')
  writeFileSync(join(bin, 'runc'), '')
  t.equal(sandboxHostProblem({ uid: 0, path: bin, cniPath: cni }), '--isolation sandbox needs catatonit, which is not installed (Debian package catatonit)', "the sandbox's init")
  for (const tool of ['runc', 'catatonit', 'nft', 'ip', 'losetup', 'mount', 'umount', 'findmnt']) {
    writeFileSync(join(bin, tool), '#!/bin/sh\n')
    chmodSync(join(bin, tool), 0o755)
  }
  t.equal(sandboxHostProblem({ uid: 0, path: bin, cniPath: cni }), '--isolation sandbox needs mkfs.ext4, which is not installed (Debian package e2fsprogs)')
  writeFileSync(join(bin, 'mkfs.ext4'), '')
  t.equal(sandboxHostProblem({ uid: 0, path: bin, cniPath: cni }), `--isolation sandbox needs the CNI bridge plugin in ${cni} (Debian package containernetworking-plugins)`)
  writeFileSync(join(cni, 'bridge'), '')
  writeFileSync(join(cni, 'host-local'), '')
  t.equal(sandboxHostProblem({ uid: 0, path: bin, cniPath: cni }), undefined, 'everything there')
})

t.test('the filter lets in the IPv4 allowed CIDRs; none: no other instance; is_public alone: every one', async (t) => {
  t.same(firewallCidrs(undefined), [], 'no access given: the host only')
  t.same(firewallCidrs({ isPublic: false, allowedCidrs: [] }), [], 'private, no CIDRs: the host only')
  t.same(firewallCidrs({ isPublic: true, allowedCidrs: [] }), ['0.0.0.0/0'], "public without CIDRs: upstream's 0.0.0.0/0")
  t.same(firewallCidrs({ isPublic: true, allowedCidrs: ['192.0.2.0/24', '2001:db8::/32'] }), ['192.0.2.0/24'], 'CIDRs named: those (IPv4) only')
  t.same(firewallCidrs({ isPublic: false, allowedCidrs: ['2001:db8::/32'] }), [], 'only IPv6 named: no instance of the IPv4 lab')
})

t.test("a lab's id is a digest of its data dir: stable, distinct, name-safe", async (t) => {
  t.equal(labIdOf('/var/lib/trove-lab'), labIdOf('/var/lib/trove-lab/'))
  t.not(labIdOf('/tmp/a/lab'), labIdOf('/tmp/b/lab'))
  t.match(labIdOf('/x'), /^[0-9a-f]{12}$/)
})

t.test('a lab with sandboxed instances refuses to start with --isolation none (the local driver would rm through their volumes)', async (t) => {
  const dir = mkdtempSync('/tmp/tv-isonone.')
  chmodSync(dir, 0o711)
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const inst = join(dir, 'lab', 'instances', '2b1f6c0e-3c1e-4f43-9a57-0f2a8c1d9e01')
  mkdirSync(inst, { recursive: true })
  writeFileSync(join(inst, 'sandbox.json'), '{}')
  await t.rejects(buildServer({ dataDir: join(dir, 'lab'), port: 0, log: () => {}, isolation: 'none' }), {
    name: 'LabError',
    message: 'this lab has 1 sandboxed instance(s) (e.g. 2b1f6c0e-3c1e-4f43-9a57-0f2a8c1d9e01): it cannot run with --isolation none',
    hint: 'trove server --isolation sandbox',
  })
})

t.test('TROVE_ISOLATION is the default isolation of an in-process server too; an unknown value is refused before anything is made', async (t) => {
  const dir = mkdtempSync('/tmp/tv-isoenv.')
  chmodSync(dir, 0o711)
  const was = process.env.TROVE_ISOLATION
  process.env.TROVE_ISOLATION = 'vm'
  t.teardown(() => {
    if (was === undefined) delete process.env.TROVE_ISOLATION
    else process.env.TROVE_ISOLATION = was
    rmSync(dir, { recursive: true, force: true })
  })
  await t.rejects(buildServer({ dataDir: join(dir, 'lab'), port: 0, log: () => {} }), { name: 'LabError', message: "TROVE_ISOLATION must be none or sandbox, not 'vm'" })
  t.same([isolationFromEnv(undefined), isolationFromEnv(''), isolationFromEnv('none')], ['sandbox', 'sandbox', 'none'], 'unset or empty: sandbox, the default')
  t.notOk(existsSync(join(dir, 'lab')), 'no data dir')
  // The API-only mode (simulated agents) has nothing to sandbox: TROVE_ISOLATION does not apply, asking for both is refused.
  process.env.TROVE_ISOLATION = 'sandbox'
  const api = await buildServer({ dataDir: join(dir, 'api'), port: 0, log: () => {}, spawnAgents: false })
  t.equal(api.lab.config.isolation, 'none')
  await api.close()
  await t.rejects(buildServer({ dataDir: join(dir, 'both'), port: 0, log: () => {}, spawnAgents: false, isolation: 'sandbox' }), {
    name: 'LabError',
    message: 'a sandboxed lab runs its agents in their sandboxes: spawnAgents: false needs isolation none',
  })
})

t.test("the sandboxes' cgroups: under the server's own groups on cgroup v1, at the unified root on v2", async (t) => {
  const hybrid = { v1: { memory: '/sys/fs/cgroup/memory/x', cpu: '/sys/fs/cgroup/cpu/x', pids: '/sys/fs/cgroup/pids/x' }, v2: '/sys/fs/cgroup/unified/x' }
  const unified = { v1: {}, v2: '/sys/fs/cgroup/user.slice/user-0.slice/session-1.scope' }
  t.equal(sandboxCgroupParent('abc', hybrid), 'trove-abc', 'v1 (this host): relative, nested under the server (its limits apply)')
  t.equal(sandboxCgroupParent('abc', unified), '/trove-abc', 'v2 only: absolute, where a group with no process of its own can delegate memory, cpu and pids')
  t.equal(sandboxCgroupParent('abc', { v1: {} }), 'trove-abc', 'no cgroup at all: as before (runc says why)')
  t.equal(sandboxCgroupPath({ root: '/r', cgroupParent: 'trove-abc' }, 'i1'), '/trove-abc/i1', "relative: the tail of /proc/PID/cgroup's path")
  t.equal(sandboxCgroupPath({ root: '/r', cgroupParent: '/trove-abc' }, 'i1'), '/trove-abc/i1', 'absolute: the whole path')
  const own = readFileSync('/proc/self/cgroup', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('0::'))
    ?.slice(3)
  const dirs = sandboxCgroupDirs({ root: '/r', cgroupParent: '/trove-abc' }, 'i1')
  t.ok(dirs.length > 0 && dirs.every((d) => d.endsWith('/trove-abc/i1') && (own === '/' || own === undefined || !d.includes(own))), `absolute: not under this process's group (${dirs.join(', ')})`)
})
