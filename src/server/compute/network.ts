import { isIPv4 } from 'node:net'
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { runTool, ToolError } from './tool.js'

/**
 * Each lab's private network (docs/isolation.md, "network"): a Linux bridge `trovebr-<lab>` with the
 * lab's gateway address (.1 of a /24 carved from a configurable range) on the host, and per instance a
 * network namespace attached to that bridge by the standard CNI plugins (`bridge` + `host-local` IPAM,
 * Debian containernetworking-plugins), run as the CNI spec says: the plugin binary, the CNI_* variables
 * in its environment, the network config on stdin. No default route is given to an instance and no
 * masquerading is set up, so nothing routes off the host; packet filtering is firewall.ts's job.
 *
 * A lab's /24 is claimed machine-wide with an O_EXCL claim file naming the lab's directory (as
 * addresses.ts claims loopback addresses); a claim whose directory is gone is stale and taken over.
 * The state lives in `<dir>/network/` (created here, 0700): the lab's record, one record per attached
 * instance, and host-local's lease directory.
 */

export const DEFAULT_RANGE = '10.213.0.0/16'
export const DEFAULT_CLAIM_DIR = '/run/trove/subnets'
export const DEFAULT_CNI_PATH = '/usr/lib/cni'
/** The prefix of instance network namespaces (`ip netns`, under /run/netns). */
export const NETNS_PREFIX = 'trove-'

/** What a lab's network is made from. */
export interface LabNetworkOptions {
  /** The lab's id; its first characters name the bridge and the nft tables. */
  labId: string
  /** The lab's directory: the subnet claim names it, and the state lives under it. */
  dir: string
  /** The range /24 subnets are carved from (a /16 to a /24); default 10.213.0.0/16. */
  range?: string
  /** Where machine-wide subnet claims live; default /run/trove/subnets. */
  claimDir?: string
  /** Where the CNI plugin binaries are; default /usr/lib/cni. */
  cniPath?: string
}

/** A lab's network, as ensureLabNetwork made it (and as its record on disk says). */
export interface LabNetwork {
  labId: string
  dir: string
  /** The Linux bridge, `trovebr-<lab>` (at most 15 characters). */
  bridge: string
  /** The lab's /24, e.g. 10.213.7.0/24. */
  subnet: string
  /** The bridge's address on the host (.1): the server and broker listen here for agents. */
  gateway: string
  claimDir: string
  cniPath: string
}

/** One instance's place on the lab network. */
export interface Attachment {
  instanceId: string
  /** The network namespace's file (/run/netns/trove-<id>): the sandbox joins it. */
  netnsPath: string
  netns: string
  /** The instance's address on the lab subnet (no prefix length). */
  address: string
  /** The host end of its veth pair (on the bridge): firewall.ts binds the address to it. */
  hostIf: string
}

const ip = (args: string[]) => runTool('ip', args)

/** A short, name-safe form of an id (letters and digits only). */
function shortId(id: string, n: number): string {
  const s = id
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '')
    .slice(0, n)
  if (!s) throw new Error(`an id needs letters or digits: ${JSON.stringify(id)}`)
  return s
}

export function bridgeName(labId: string): string {
  return `trovebr-${shortId(labId, 7)}`
}

export function netnsName(instanceId: string): string {
  return `${NETNS_PREFIX}${shortId(instanceId, 24)}`
}

function ipv4ToInt(a: string): number {
  const p = a.split('.').map(Number)
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new Error(`not an IPv4 address: ${a}`)
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0
}

function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
}

/** The /24 subnets of `range`, in order: the bases as integers. */
export function subnetsOf(range: string): number[] {
  const [base, len] = range.split('/')
  const bits = Number(len)
  if (!base || !Number.isInteger(bits) || bits < 8 || bits > 24) throw new Error(`network range must be an IPv4 CIDR from /8 to /24: ${range}`)
  const start = ipv4ToInt(base) & (bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0)
  const out: number[] = []
  for (let i = 0; i < 2 ** (24 - bits); i++) out.push((start + i * 256) >>> 0)
  return out
}

/** The /24s the host already has an address or a route in (they are never claimed). */
async function hostSubnets(): Promise<Set<number>> {
  const used = new Set<number>()
  const routes = JSON.parse(await ip(['-j', '-4', 'route', 'show', 'table', 'all'])) as { dst?: string }[]
  const addrs = JSON.parse(await ip(['-j', '-4', 'addr', 'show'])) as { addr_info?: { local?: string }[] }[]
  for (const r of routes) if (r.dst && /^\d+\.\d+\.\d+\.\d+(\/(2[4-9]|3[0-2]))?$/.test(r.dst)) used.add(ipv4ToInt(r.dst.split('/')[0]!) & 0xffffff00)
  for (const l of addrs) for (const a of l.addr_info ?? []) if (a.local) used.add((ipv4ToInt(a.local) & 0xffffff00) >>> 0)
  return new Set([...used].map((n) => n >>> 0))
}

/** Claims `subnet` for `ownerDir` (O_EXCL); false if a live owner holds it. A stale claim is taken over. */
export function claimSubnet(claimDir: string, subnet: string, ownerDir: string): boolean {
  mkdirSync(claimDir, { recursive: true, mode: 0o755 })
  const file = join(claimDir, subnet.replace('/', '_'))
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o644)
      writeSync(fd, ownerDir)
      closeSync(fd)
      return true
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      let owner = ''
      try {
        owner = readFileSync(file, 'utf8')
      } catch {
        continue
      }
      if (owner === ownerDir) return true
      if (owner && existsSync(owner)) return false
      try {
        unlinkSync(file)
      } catch {
        /* raced with another taker */
      }
    }
  }
  return false
}

/**
 * Removes what labs whose data dir is gone left of their network (the dir removed by hand, or by a killed test's
 * cleanup, without a reset): each claim in `claimDir` that names a directory that no longer exists, and the bridge of
 * that lab (`labIdOf` its path: the id is a digest of it). Returns the ids swept (the caller removes their packet
 * filter). Left behind, such a bridge kept its /24 out of use for good, and every nft command read its tables.
 */
export async function sweepOrphanNetworks(claimDir: string, labIdOf: (dir: string) => string): Promise<string[]> {
  const owners = new Map<string, string>()
  for (const name of existsSync(claimDir) ? readdirSync(claimDir) : []) {
    try {
      owners.set(name, readFileSync(join(claimDir, name), 'utf8'))
    } catch {
      /* released meanwhile */
    }
  }
  // A bridge name keeps 7 characters of the id: never one that a live lab's name shares.
  const live = new Set([...owners.values()].filter((o) => existsSync(o)).map((o) => bridgeName(labIdOf(o))))
  const swept: string[] = []
  for (const [name, owner] of owners) {
    if (!owner.startsWith('/') || existsSync(owner)) continue
    const bridge = bridgeName(labIdOf(owner))
    if (!live.has(bridge) && (await linkExists(bridge))) await ip(['link', 'del', 'dev', bridge]).catch(() => undefined)
    releaseSubnet(claimDir, name.replace('_', '/'), owner)
    swept.push(labIdOf(owner))
  }
  return swept
}

export function releaseSubnet(claimDir: string, subnet: string, ownerDir: string): void {
  const file = join(claimDir, subnet.replace('/', '_'))
  try {
    if (readFileSync(file, 'utf8') === ownerDir) unlinkSync(file)
  } catch {
    /* already gone */
  }
}

/** The lab's state directory, made here (0700); refuses a symlink in its place. */
function stateDir(dir: string, ...sub: string[]): string {
  let d = join(dir, 'network')
  for (const s of ['', ...sub]) {
    if (s) d = join(d, s)
    mkdirSync(d, { recursive: true, mode: 0o700 })
    if (!lstatSync(d).isDirectory()) throw new Error(`not a directory: ${d}`)
  }
  return d
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T
  } catch {
    return undefined
  }
}

async function linkExists(name: string): Promise<boolean> {
  try {
    await ip(['link', 'show', 'dev', name])
    return true
  } catch {
    return false
  }
}

/**
 * Makes (or finds again) the lab's bridge, subnet and gateway. Idempotent: a second call with the same
 * directory returns the recorded network, re-creating the bridge if it is gone (after a host reboot).
 */
export async function ensureLabNetwork(opts: LabNetworkOptions): Promise<LabNetwork> {
  const recordFile = join(stateDir(opts.dir), 'lab.json')
  let lab = readJson<LabNetwork>(recordFile)
  if (!lab) {
    // The bridge's name keeps 7 characters of the lab id: never adopt another lab's bridge.
    if (await linkExists(bridgeName(opts.labId))) throw new Error(`lab network: a link named ${bridgeName(opts.labId)} exists already (another lab's?)`)
    const claimDir = opts.claimDir ?? DEFAULT_CLAIM_DIR
    const used = await hostSubnets()
    let subnet: string | undefined
    for (const base of subnetsOf(opts.range ?? DEFAULT_RANGE)) {
      if (used.has(base)) continue
      const s = `${intToIpv4(base)}/24`
      if (claimSubnet(claimDir, s, opts.dir)) {
        subnet = s
        break
      }
    }
    if (!subnet) throw new Error(`no free /24 left in ${opts.range ?? DEFAULT_RANGE} (claims under ${claimDir})`)
    const base = ipv4ToInt(subnet.split('/')[0]!)
    lab = { labId: opts.labId, dir: opts.dir, bridge: bridgeName(opts.labId), subnet, gateway: intToIpv4(base + 1), claimDir, cniPath: opts.cniPath ?? DEFAULT_CNI_PATH }
    writeFileSync(recordFile, JSON.stringify(lab), { mode: 0o600 })
  } else if (!claimSubnet(lab.claimDir, lab.subnet, opts.dir)) {
    // The claim is on /run: a host reboot emptied it, and another lab may have claimed the subnet first.
    throw new Error(`lab network: the lab's subnet ${lab.subnet} is claimed by another lab (${lab.claimDir}); move this lab with --network-range or stop the other one`)
  }
  if (!(await linkExists(lab.bridge))) {
    try {
      await ip(['link', 'add', 'name', lab.bridge, 'type', 'bridge'])
    } catch (e) {
      if (!(await linkExists(lab.bridge))) throw e // else a concurrent ensure made it
    }
  }
  await pinBridgeAddress(lab.bridge)
  const addrs = JSON.parse(await ip(['-j', '-4', 'addr', 'show', 'dev', lab.bridge])) as { addr_info?: { local?: string }[] }[]
  if (!addrs.some((l) => l.addr_info?.some((a) => a.local === lab.gateway))) await ip(['addr', 'add', `${lab.gateway}/24`, 'dev', lab.bridge])
  await ip(['link', 'set', 'dev', lab.bridge, 'up'])
  return lab
}

/**
 * Pins the bridge's MAC address (the one it has): a Linux bridge whose address was never set takes the lowest of
 * its ports' and changes it as veths join and leave, and every instance's ARP entry for the gateway then pointed at
 * an address gone, its traffic to the broker dropped until the entry expired (up to ~45 s; an instance's probe of
 * the broker timed out in a full test run right after another sandbox's veth joined). Set once, the kernel keeps it
 * (addr_assign_type 3, NET_ADDR_SET); a bridge that has it already is left as it is.
 */
async function pinBridgeAddress(bridge: string): Promise<void> {
  const sys = `/sys/class/net/${bridge}`
  if (readFileSync(join(sys, 'addr_assign_type'), 'utf8').trim() === '3') return
  await ip(['link', 'set', 'dev', bridge, 'address', readFileSync(join(sys, 'address'), 'utf8').trim()])
}

/** The CNI network config of the lab (spec 1.0.0): bridge plugin, host-local IPAM, no default route. */
export function cniConfig(lab: LabNetwork): string {
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: `trove-${shortId(lab.labId, 24)}`,
    type: 'bridge',
    bridge: lab.bridge,
    isGateway: true,
    isDefaultGateway: false,
    ipMasq: false,
    hairpinMode: false,
    ipam: {
      type: 'host-local',
      ranges: [[{ subnet: lab.subnet, gateway: lab.gateway }]],
      // No `routes`: the interface's own connected route (the lab subnet) is the only one.
      dataDir: stateDir(lab.dir, 'leases'),
    },
  })
}

/** Runs the CNI bridge plugin; its error is the `msg` of the JSON error it prints on stdout (CNI spec). */
async function cni(lab: LabNetwork, command: 'ADD' | 'DEL', containerId: string, netnsPath: string, address?: string): Promise<string> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    CNI_COMMAND: command,
    CNI_CONTAINERID: containerId,
    CNI_NETNS: netnsPath,
    CNI_IFNAME: 'eth0',
    CNI_PATH: lab.cniPath,
    // host-local's way to ask for one address (its IPAMEnvArgs): the same address again after a reboot.
    ...(address ? { CNI_ARGS: `IgnoreUnknown=1;IP=${address}` } : {}),
  }
  try {
    return await runTool(join(lab.cniPath, 'bridge'), [], { input: cniConfig(lab), env }, `cni bridge ${command}`)
  } catch (e) {
    if (!(e instanceof ToolError)) throw e
    const m = /"msg":\s*"([^"]*)"/.exec(e.message)
    throw m ? new ToolError(e.tool, e.code, m[1]!) : e
  }
}

interface CniResult {
  interfaces?: { name: string; sandbox?: string }[]
  ips?: { address: string; interface?: number }[]
}

function attachFile(lab: LabNetwork, instanceId: string): string {
  return join(stateDir(lab.dir, 'instances'), `${shortId(instanceId, 64)}.json`)
}

/**
 * Gives the instance its network namespace on the lab bridge and an address from host-local (`address`
 * when given: the one it had, after a host reboot took its namespace). Idempotent: an instance already
 * attached (its record and namespace present) gets the same answer.
 */
export async function attachInstance(lab: LabNetwork, instanceId: string, address?: string): Promise<Attachment> {
  if (address && !isIPv4(address)) throw new Error(`lab network: not an IPv4 address: ${JSON.stringify(address)}`)
  const file = attachFile(lab, instanceId)
  const recorded = readJson<Attachment>(file)
  const netns = netnsName(instanceId)
  const netnsPath = `/run/netns/${netns}`
  if (recorded?.address && existsSync(recorded.netnsPath)) return recorded
  if (recorded || existsSync(netnsPath)) await detachInstance(lab, instanceId) // a half-made attachment
  // Recorded before the namespace exists, so that a crash from here on leaves something sweepNetwork finds.
  writeFileSync(file, JSON.stringify({ instanceId, netnsPath, netns, address: '', hostIf: '' } satisfies Attachment), { mode: 0o600 })
  await ip(['netns', 'add', netns]).catch((e: unknown) => {
    rmSync(file, { force: true })
    throw e
  })
  try {
    await ip(['-n', netns, 'link', 'set', 'dev', 'lo', 'up'])
    const result = JSON.parse(await cni(lab, 'ADD', netns, netnsPath, address)) as CniResult
    const addr = result.ips?.[0]?.address?.split('/')[0]
    const hostIf = result.interfaces?.find((i) => !i.sandbox && i.name !== lab.bridge)?.name
    if (!addr || !hostIf) throw new Error(`cni bridge ADD: no address or host interface in its result for ${instanceId}`)
    const a: Attachment = { instanceId, netnsPath, netns, address: addr, hostIf }
    writeFileSync(file, JSON.stringify(a), { mode: 0o600 })
    return a
  } catch (e) {
    await cni(lab, 'DEL', netns, netnsPath).catch(() => {})
    await ip(['netns', 'del', netns]).catch(() => {})
    rmSync(file, { force: true })
    throw e
  }
}

/** Releases the instance's address (CNI DEL) and removes its namespace (and with it the veth pair). Idempotent. */
export async function detachInstance(lab: LabNetwork, instanceId: string): Promise<void> {
  const netns = netnsName(instanceId)
  const netnsPath = `/run/netns/${netns}`
  // DEL tolerates a namespace already gone (the spec asks plugins to); it frees the lease either way.
  await cni(lab, 'DEL', netns, existsSync(netnsPath) ? netnsPath : '')
  if (existsSync(netnsPath)) {
    try {
      await ip(['netns', 'del', netns])
    } catch (e) {
      if (existsSync(netnsPath)) throw e
    }
  }
  rmSync(attachFile(lab, instanceId), { force: true })
}

/** The instances the lab's records say are attached. */
export function attachedInstances(lab: LabNetwork): Attachment[] {
  const d = stateDir(lab.dir, 'instances')
  return readdirSync(d)
    .filter((f) => f.endsWith('.json'))
    .map((f) => readJson<Attachment>(join(d, f)))
    .filter((a): a is Attachment => !!a)
}

/** The container ids host-local holds leases for (its dataDir: one file per address naming the id). */
function leasedIds(lab: LabNetwork): Set<string> {
  const d = join(stateDir(lab.dir, 'leases'), `trove-${shortId(lab.labId, 24)}`)
  const ids = new Set<string>()
  if (!existsSync(d)) return ids
  for (const f of readdirSync(d)) {
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(f)) continue
    const id = readFileSync(join(d, f), 'utf8').split(/\r?\n/)[0]?.trim()
    if (id) ids.add(id)
  }
  return ids
}

/**
 * Removes what a crashed run left of instances no longer owned: attachments, leases and namespaces of
 * the lab whose instance id is not in `keep`. Returns the namespaces removed.
 */
export async function sweepNetwork(lab: LabNetwork, keep: ReadonlySet<string>): Promise<string[]> {
  const keptNs = new Set([...keep].map(netnsName))
  const gone = new Set<string>()
  for (const a of attachedInstances(lab)) if (!keep.has(a.instanceId)) gone.add(a.netns)
  for (const id of leasedIds(lab)) if (id.startsWith(NETNS_PREFIX) && !keptNs.has(id)) gone.add(id)
  for (const netns of gone) {
    const netnsPath = `/run/netns/${netns}`
    await cni(lab, 'DEL', netns, existsSync(netnsPath) ? netnsPath : '')
    if (existsSync(netnsPath)) await ip(['netns', 'del', netns])
  }
  for (const a of attachedInstances(lab)) if (gone.has(a.netns)) rmSync(attachFile(lab, a.instanceId), { force: true })
  return [...gone].sort()
}

/** Detaches every instance, deletes the bridge, the leases and the records, and releases the subnet. Idempotent. */
export async function destroyLabNetwork(lab: LabNetwork): Promise<void> {
  if (!existsSync(join(lab.dir, 'network'))) return releaseSubnet(lab.claimDir, lab.subnet, lab.dir)
  await sweepNetwork(lab, new Set())
  if (await linkExists(lab.bridge)) {
    try {
      await ip(['link', 'del', 'dev', lab.bridge])
    } catch (e) {
      if (await linkExists(lab.bridge)) throw e
    }
  }
  rmSync(join(lab.dir, 'network'), { recursive: true, force: true })
  releaseSubnet(lab.claimDir, lab.subnet, lab.dir)
}
