// What bench/scale.mjs needs to see of a lab run with `--isolation sandbox` (docs/isolation.md): each sandbox's
// processes (its cgroup), its init and agent, its cgroup's memory, the lab's packet filter (size, and the time of a
// full re-apply), and every part a sandbox leaves on the host if its delete forgot one (runc state, cgroups, loop
// devices, namespaces, uid claims, mounts, nft entries, subnet claim, bridge). All read as root from the host.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { applyFirewall, tableName } from '../dist/server/compute/firewall.js'
import { netnsName } from '../dist/server/compute/network.js'
import { sandboxCgroupDirs } from '../dist/server/compute/sandbox.js'
import { labIdOf, sandboxedInstanceIds } from '../dist/server/compute/sandbox-host.js'
import { UID_CLAIM_DIR } from '../dist/server/compute/uids.js'

const run = (cmd, args) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
const readPid = (file) => {
  try {
    return Number(readFileSync(file, 'utf8'))
  } catch {
    return undefined
  }
}

/** The lab of `dataDir` as the server lays it out: its runc runtime, lab id and nft table name. */
export function sandboxLab(dataDir) {
  const labId = labIdOf(dataDir)
  return { dataDir, labId, table: tableName(labId), runtime: { root: join(dataDir, 'sandbox', 'runc'), cgroupParent: `trove-${labId}` } }
}

/** Pids in the sandbox's cgroup (the first hierarchy that has it), and its init and agent pids. */
export function sandboxProcesses(lab, id) {
  const pids = new Set()
  for (const d of sandboxCgroupDirs(lab.runtime, id)) {
    try {
      for (const p of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (p.trim()) pids.add(Number(p))
    } catch {
      /* not this hierarchy */
    }
  }
  const bundle = join(lab.dataDir, 'instances', id, 'bundle')
  return { pids: [...pids], init: readPid(join(bundle, 'init.pid')), agent: readPid(join(bundle, 'agent.pid')) }
}

/** The sandbox's memory cgroup figures (v1: memory.stat total_rss/total_cache, memory.kmem.usage_in_bytes), MB; undefined without one. */
export function sandboxCgroupMemory(lab, id) {
  for (const d of sandboxCgroupDirs(lab.runtime, id)) {
    if (!existsSync(join(d, 'memory.stat'))) continue
    const stat = readFileSync(join(d, 'memory.stat'), 'utf8')
    const field = (k) => Number(new RegExp(`^${k} (\\d+)`, 'm').exec(stat)?.[1] ?? 0) / 2 ** 20
    let kmem
    try {
      kmem = Number(readFileSync(join(d, 'memory.kmem.usage_in_bytes'), 'utf8')) / 2 ** 20
    } catch {
      kmem = field('kernel') // v2: memory.stat's kernel
    }
    return { rss: field('total_rss') || field('anon'), cache: field('total_cache') || field('file'), kmem }
  }
  return undefined
}

/** /proc/meminfo fields in MB (what is not page cache: anon, shmem/tmpfs, unreclaimable kernel memory). */
export function meminfo() {
  const text = readFileSync('/proc/meminfo', 'utf8')
  const f = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0) / 1024
  return {
    available: f('MemAvailable'),
    anon: f('AnonPages'),
    shmem: f('Shmem'),
    slab: f('Slab'),
    sunreclaim: f('SUnreclaim'),
    kernelStack: f('KernelStack'),
    pageTables: f('PageTables'),
    percpu: f('Percpu'),
  }
}

/** The lab's network record (network.ts writes it: bridge, subnet, gateway, claim dir). */
function labNetwork(lab) {
  return JSON.parse(readFileSync(join(lab.dataDir, 'network', 'lab.json'), 'utf8'))
}

/** nft JSON of one set of the lab's tables: its elements. */
function setElements(lab, family, set) {
  try {
    const out = JSON.parse(run('nft', ['-j', 'list', 'set', family, lab.table, set]))
    return out.nftables.find((e) => e.set)?.set?.elem ?? []
  } catch {
    return undefined // no table
  }
}

/** Size of the lab's rule set: instances in its `ports` set, lines of `nft list` of both tables. */
export function ruleSetSize(lab) {
  let lines = 0
  for (const family of ['bridge', 'inet']) {
    try {
      lines += run('nft', ['list', 'table', family, lab.table])
        .split('\n')
        .filter((l) => l.trim()).length
    } catch {
      /* no table */
    }
  }
  return { instances: setElements(lab, 'bridge', 'ports')?.length ?? 0, lines }
}

/**
 * A full re-apply of the lab's rules, as the server's applyRules makes it (sandboxed.ts: the records, the
 * host ports the table holds now; no replication set in this bench), timed `runs` times: ms each. The rule set
 * is the one installed (same records), so the lab's filtering is unchanged; checked by comparing `nft list`.
 */
export async function timeApplyRules(lab, runs = 3) {
  const net = labNetwork(lab)
  const instances = []
  for (const id of sandboxedInstanceIds(join(lab.dataDir, 'instances'))) {
    const r = JSON.parse(readFileSync(join(lab.dataDir, 'instances', id, 'sandbox.json'), 'utf8'))
    if (r.address && r.hostIf && r.port) instances.push({ address: r.address, hostIf: r.hostIf, ports: [r.port], allowedCidrs: r.allowedCidrs ?? [], peers: [] })
  }
  const hostPorts = (setElements(lab, 'inet', 'host_ports') ?? []).map(Number)
  const listing = () =>
    ['bridge', 'inet']
      .map((f) => run('nft', ['list', 'table', f, lab.table]))
      .join('')
      .replace(/packets \d+ bytes \d+/g, '')
  const before = listing()
  const ms = []
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now()
    await applyFirewall(net, { instances, hostPorts })
    ms.push(performance.now() - t0)
  }
  if (listing() !== before) throw new Error("the timed re-apply of the lab's rules changed them: the bench's rules differ from the server's")
  return { ms, instances: instances.length }
}

/** Every part of the lab's sandboxes still on the host: counts per kind (all zero after the deletes). */
export function sandboxLeftovers(lab, ids) {
  const root = lab.dataDir
  const runc = existsSync(lab.runtime.root) ? readdirSync(lab.runtime.root).filter((n) => !n.startsWith('.')).length : 0
  const cgroups = ids.flatMap((id) => sandboxCgroupDirs(lab.runtime, id)).filter((d) => existsSync(d)).length
  let loops = 0
  try {
    const devs = JSON.parse(run('losetup', ['-J', '-l']) || '{"loopdevices":[]}').loopdevices
    loops = devs.filter((d) => d['back-file']?.startsWith(`${root}/`)).length
  } catch {
    /* losetup without devices prints nothing */
  }
  const names = new Set(ids.map(netnsName))
  const netns = run('ip', ['netns', 'list'])
    .split('\n')
    .filter((l) => names.has(l.split(' ')[0]))
  let uids = 0
  try {
    for (const f of readdirSync(UID_CLAIM_DIR)) {
      try {
        if (readFileSync(join(UID_CLAIM_DIR, f), 'utf8').startsWith(`${root}/`)) uids++
      } catch {
        /* raced */
      }
    }
  } catch {
    /* no claims dir */
  }
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[1]?.startsWith(`${root}/`)).length
  const nft = setElements(lab, 'bridge', 'ports')?.length ?? 0
  return { runc, cgroups, loops, netns: netns.length, uids, mounts, nft }
}

/** What the lab itself holds after `trove server reset`: its bridge, subnet claim and nft tables (all gone). */
export function labLeftovers(lab, bridge) {
  let bridges = 0
  try {
    run('ip', ['link', 'show', 'dev', bridge])
    bridges = 1
  } catch {
    /* gone */
  }
  let subnets = 0
  try {
    for (const f of readdirSync('/run/trove/subnets')) if (readFileSync(join('/run/trove/subnets', f), 'utf8') === lab.dataDir) subnets++
  } catch {
    /* none */
  }
  const tables = run('nft', ['list', 'tables'])
    .split('\n')
    .filter((l) => l.trim().endsWith(` ${lab.table}`)).length
  return { bridges, subnets, tables }
}

/** The lab's bridge and subnet (read while the lab exists, for labLeftovers afterwards). */
export function labNetworkNames(lab) {
  const n = labNetwork(lab)
  return { bridge: n.bridge, subnet: n.subnet }
}
