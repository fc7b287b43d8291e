import { isIPv4 } from 'node:net'
import { runTool } from './tool.js'

/**
 * A lab's packet filter (docs/isolation.md, "packet filter"), in nftables, replaced as a whole in one
 * transaction (`nft -f -`: the old table deleted and the new one added in the same batch, so there is
 * never a moment without rules, and a script the kernel refuses changes nothing).
 *
 * Two tables per lab, both named `trove_<lab>`:
 *  - `bridge trove_<lab>`: frames between the lab's instances never leave the bridge, so the `inet`
 *    hooks see them only through br_netfilter with the host-wide `bridge-nf-call-iptables` switch on
 *    (a setting of the host's network namespace that also changes every other bridge's traffic; not
 *    ours to rely on or to flip). The `bridge` family's forward hook sees them without it. Its limits on
 *    this host (kernel 6.18, no modprobe): no conntrack (nf_conntrack_bridge absent), no `reject`, no
 *    `meta ibrname`. So the chain is scoped to the lab's veth ports by name, drops what it refuses, and
 *    lets replies through statelessly: from an instance's engine port, any TCP segment but a bare SYN
 *    (a peer cannot open a connection from there, and a stray segment is answered with a reset by the
 *    receiver's stack). Each port may only send from its own address (IP and ARP), so a source set
 *    cannot be passed by forging an address. IPv6 between instances is dropped: the lab is IPv4 only.
 *  - `inet trove_<lab>`: traffic from the instances to the host goes through the host's IP stack, where
 *    conntrack works: replies to the host's own connections, and new connections only to the gateway's
 *    named ports (broker, object store); the rest refused with a reset. A forward chain drops anything
 *    routed between the bridge and another interface: nothing leaves the host or enters the lab.
 * The host reaches every instance (its frames take the bridge's output hook, filtered only for an instance
 * partitioned by a fault: faults.ts), and a partitioned instance's port passes no frame either way.
 */

/** What one instance lets in. */
export interface InstanceRule {
  /** The instance's address on the lab subnet. */
  address: string
  /** The host end of its veth pair (Attachment.hostIf): its frames must carry its own address. */
  hostIf: string
  /** The engine's port(s). */
  ports: number[]
  /** Source CIDRs of the lab's instances allowed to the engine port (sandbox-host.ts firewallCidrs); empty: none. The host always is. */
  allowedCidrs: string[]
  /** Replication peers' addresses (the other members of its replication set), allowed to the engine port whatever allowedCidrs says. */
  peers: string[]
  /** Cut off both ways (faults.ts `partition`): no frame to or from its port, the host's included, whatever the rest allows. */
  partitioned?: boolean
}

/** A lab's whole rule set. */
export interface FirewallRules {
  instances: InstanceRule[]
  /** The host's ports on the gateway address that instances may open connections to. */
  hostPorts: number[]
}

/** What firewall.ts needs of a lab's network (network.ts's LabNetwork has it). */
export interface FirewallLab {
  labId: string
  bridge: string
  subnet: string
  gateway: string
}

/** The nft tables' name for a lab. */
export function tableName(labId: string): string {
  const s = labId
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '')
    .slice(0, 24)
  if (!s) throw new Error(`a lab id needs letters or digits: ${JSON.stringify(labId)}`)
  return `trove_${s}`
}

/** The bridge table's set of (peer, instance, engine port) a replication set allows (replication-rules.ts). */
export const REPLICATION_SET = 'replication'

/** The bridge table's set of the ports (host ends of veths) of partitioned instances (faults.ts). */
export const PARTITIONED_SET = 'partitioned'

/** The counter of TCP segments dropped between instances or from a forged source (a refused connection attempt counts its SYNs). */
export const BLOCKED_COUNTER = 'blocked_tcp'

function cidr(c: string): string {
  const [a, len, extra] = c.split('/')
  const n = len === undefined ? 32 : Number(len)
  if (extra !== undefined || !a || !isIPv4(a) || !/^\d{1,2}$/.test(len ?? '32') || n > 32) throw new Error(`firewall: not an IPv4 CIDR: ${JSON.stringify(c)}`)
  return `${a}/${n}`
}

function address(a: string): string {
  if (!isIPv4(a)) throw new Error(`firewall: not an IPv4 address: ${JSON.stringify(a)}`)
  return a
}

function port(p: number): number {
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`firewall: not a port: ${JSON.stringify(p)}`)
  return p
}

function ifname(n: string): string {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(n)) throw new Error(`firewall: not an interface name: ${JSON.stringify(n)}`)
  return `"${n}"`
}

const elements = (xs: readonly (string | number)[]) => (xs.length ? ` elements = { ${xs.join(', ')} };` : '')

/**
 * The nft script replacing the lab's tables (exported for the unit test; applyFirewall runs it).
 * Every value is validated before it is written, so a rule set either applies whole or fails here.
 */
export function firewallScript(lab: FirewallLab, rules: FirewallRules): string {
  const t = tableName(lab.labId)
  const br = ifname(lab.bridge)
  const gw = address(lab.gateway)
  const inst = rules.instances.map((r) => ({
    address: address(r.address),
    hostIf: ifname(r.hostIf),
    ports: [...new Set(r.ports.map(port))],
    allowed: [...new Set(r.allowedCidrs.map(cidr))],
    peers: [...new Set(r.peers.map(address))],
    partitioned: r.partitioned === true,
  }))
  for (const r of inst) if (!r.ports.length) throw new Error(`firewall: no engine port for ${r.address}`)
  // peer . instance . engine port, for every peer of every instance (a set lists both directions).
  const replication = [...new Set(inst.flatMap((r) => r.peers.flatMap((p) => r.ports.map((port) => `${p} . ${r.address} . ${port}`))))]
  const hostPorts = [...new Set(rules.hostPorts.map(port))]
  const bridge: string[] = [
    `table bridge ${t} {`,
    `  set ports { type ifname;${elements(inst.map((r) => r.hostIf))} }`,
    `  set ${PARTITIONED_SET} { type ifname;${elements(inst.filter((r) => r.partitioned).map((r) => r.hostIf))} }`,
    `  counter ${BLOCKED_COUNTER} { }`,
    ...inst.map((r, i) => `  set allow_${i} { type ipv4_addr; flags interval; auto-merge;${elements(r.allowed)} }`),
    `  set ${REPLICATION_SET} { type ipv4_addr . ipv4_addr . inet_service;${elements(replication)} }`,
    '  chain spoof {',
    ...inst.flatMap((r) => [
      `    iifname ${r.hostIf} ip saddr != ${r.address} meta l4proto tcp counter name ${BLOCKED_COUNTER} drop`,
      `    iifname ${r.hostIf} ip saddr != ${r.address} drop`,
      `    iifname ${r.hostIf} arp saddr ip != ${r.address} drop`,
    ]),
    '  }',
    '  chain between {',
    '    type filter hook forward priority 0; policy accept;',
    `    iifname @${PARTITIONED_SET} drop`,
    `    oifname @${PARTITIONED_SET} drop`,
    '    iifname != @ports accept',
    '    jump spoof',
    '    ether type arp accept',
    '    ether type != ip drop',
    ...inst.flatMap((r, i) => {
      const dports = `{ ${r.ports.join(', ')} }`
      return [`    ip daddr ${r.address} tcp dport ${dports} ip saddr @allow_${i} accept`, `    ip saddr ${r.address} tcp sport ${dports} tcp flags & (syn | ack) != syn accept`]
    }),
    // Members of a replication set to each other's engine port: one lookup, whatever the set's size.
    `    ip saddr . ip daddr . tcp dport @${REPLICATION_SET} accept`,
    `    meta l4proto tcp counter name ${BLOCKED_COUNTER} drop`,
    '    drop',
    '  }',
    '  chain to_host {',
    '    type filter hook input priority 0; policy accept;',
    `    iifname @${PARTITIONED_SET} drop`,
    '    iifname != @ports accept',
    '    jump spoof',
    '  }',
    // The host's own frames to a partitioned instance (the endpoints' HAProxy, the server): the only chain that sees them.
    '  chain from_host {',
    '    type filter hook output priority 0; policy accept;',
    `    oifname @${PARTITIONED_SET} drop`,
    '  }',
    '}',
  ]
  const inet: string[] = [
    `table inet ${t} {`,
    `  set host_ports { type inet_service;${elements(hostPorts)} }`,
    '  chain input {',
    '    type filter hook input priority 0; policy accept;',
    `    iifname != ${br} accept`,
    '    ct state established,related accept',
    `    ip daddr ${gw} tcp dport @host_ports accept`,
    '    meta l4proto tcp reject with tcp reset',
    '    drop',
    '  }',
    '  chain forward {',
    '    type filter hook forward priority 0; policy accept;',
    `    iifname ${br} oifname != ${br} drop`,
    `    oifname ${br} iifname != ${br} drop`,
    '  }',
    '}',
  ]
  return [...deleteScript(t), ...bridge, ...inet, ''].join('\n')
}

/** Deletes both tables, present or not (an empty `table` statement first makes the delete idempotent). */
function deleteScript(t: string): string[] {
  return [`table bridge ${t} { }`, `delete table bridge ${t}`, `table inet ${t} { }`, `delete table inet ${t}`]
}

/** Replaces the lab's rules with `rules`, in one transaction. */
export async function applyFirewall(lab: FirewallLab, rules: FirewallRules): Promise<void> {
  await runTool('nft', ['-f', '-'], { input: firewallScript(lab, rules) })
}

/** Removes the lab's tables. Idempotent. */
export async function removeFirewall(lab: Pick<FirewallLab, 'labId'>): Promise<void> {
  await runTool('nft', ['-f', '-'], { input: `${deleteScript(tableName(lab.labId)).join('\n')}\n` })
}

/** Whether the lab's tables exist (both are made and removed together). */
export async function firewallPresent(lab: Pick<FirewallLab, 'labId'>): Promise<boolean> {
  const out = JSON.parse(await runTool('nft', ['-j', 'list', 'tables'])) as { nftables: { table?: { name: string } }[] }
  return out.nftables.some((e) => e.table?.name === tableName(lab.labId))
}

/** TCP segments dropped between the lab's instances so far (0 when the table is absent). */
export async function blockedCount(lab: Pick<FirewallLab, 'labId'>): Promise<number> {
  try {
    const out = JSON.parse(await runTool('nft', ['-j', 'list', 'counter', 'bridge', tableName(lab.labId), BLOCKED_COUNTER])) as {
      nftables: { counter?: { packets: number } }[]
    }
    return out.nftables.find((e) => e.counter)?.counter?.packets ?? 0
  } catch {
    return 0
  }
}
