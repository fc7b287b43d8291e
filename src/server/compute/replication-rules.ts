import type { FirewallRules } from './firewall.js'
import type { SandboxRecord } from './sandbox-guest.js'
/**
 * Replication sets for the packet filter (docs/isolation.md, "packet filter"): the members of one set
 * may reach each other's engine port, both ways, so that a promote, an eject or a failover needs no rule
 * change at the moment of the fault. The sets come from the server's records only (replication-sets.ts in
 * instances/: `slave_of_id`, and the members of a promote or eject still running), so the filter the
 * server recomputes at start is the one it had before a crash.
 */

/**
 * The connected components of the graph whose edges are `links` (a replica and its source, or two
 * members of a running promote/eject), each a sorted list of ids; ids linked to nothing are left out.
 * Components rather than "a source and its replicas": while a promote runs, the candidate is already a
 * source of its own and the others still follow the old one; its payload's links keep them one set.
 */
export function replicationSets(links: Iterable<readonly [string, string]>): string[][] {
  const parent = new Map<string, string>()
  const find = (x: string): string => {
    if (!parent.has(x)) parent.set(x, x)
    let r = x
    while (parent.get(r) !== r) r = parent.get(r)!
    // Path compression: every node on the way points at the root.
    for (let n = x; n !== r; ) {
      const next = parent.get(n)!
      parent.set(n, r)
      n = next
    }
    return r
  }
  for (const [a, b] of links) {
    if (a === b) continue
    const ra = find(a)
    const rb = find(b)
    if (ra !== rb) parent.set(ra, rb)
  }
  const sets = new Map<string, string[]>()
  for (const id of parent.keys()) {
    const r = find(id)
    sets.set(r, [...(sets.get(r) ?? []), id])
  }
  return [...sets.values()].map((s) => s.sort()).sort((x, y) => (x[0]! < y[0]! ? -1 : 1))
}

/** Per instance, the addresses of the other members of its set that have one (`addressOf`): its peers. */
export function peerAddresses(sets: readonly string[][], addressOf: (id: string) => string | undefined): Map<string, string[]> {
  const peers = new Map<string, string[]>()
  for (const set of sets) {
    for (const id of set) {
      const others = set.filter((o) => o !== id).map(addressOf)
      peers.set(
        id,
        others.filter((a): a is string => a !== undefined),
      )
    }
  }
  return peers
}

/** The packet filter's instance entries from the lab's sandbox records and the server's replication sets (`sets` may throw: none then). */
export function instanceRules(records: Map<string, SandboxRecord>, sets: () => string[][]): FirewallRules['instances'] {
  let held: string[][] = []
  try {
    held = sets()
  } catch {
    /* the server's database is closed (a lab removed after its server stopped): no replication set holds */
  }
  const peers = peerAddresses(held, (id) => records.get(id)?.address)
  const instances: FirewallRules['instances'] = []
  for (const [id, r] of records) {
    if (r.address && r.hostIf && r.port)
      instances.push({ address: r.address, hostIf: r.hostIf, ports: [r.port], allowedCidrs: r.allowedCidrs ?? [], peers: peers.get(id) ?? [], partitioned: r.partitioned === true })
  }
  return instances
}
