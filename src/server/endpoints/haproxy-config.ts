import { isIPv4 } from 'node:net'

/**
 * The stable endpoints of replication sets (issue 16), served by one HAProxy per lab in TCP mode:
 * per set a writer proxy whose only enabled server is the current primary, and a reader proxy that
 * spreads connections over the replicas that pass HAProxy's own TCP check, with the primary as the
 * backup used only while no replica is up. Each endpoint listens on an address of its own on the
 * engine's standard port, as RDS endpoints and CloudNativePG's -rw/-ro services do.
 *
 * The configuration is rendered from the server's records, never edited in place: a change of members
 * reloads HAProxy (master-worker, so open connections of the old worker are left to finish, bounded by
 * `hard-stop-after`); a change of primary is first made at run time (haproxy.ts) so that writes move at
 * once, then the same render makes it permanent.
 */

/** One member of a set: an instance with the address and port its engine listens on. */
export interface EndpointMember {
  id: string
  address: string
  port: number
  primary: boolean
}

/** One replication set's endpoints. */
export interface EndpointSet {
  /** The set's stable id (names its proxies; survives promotes, unlike the source's id). */
  id: string
  /** The port both endpoints listen on (the engine's standard port). */
  port: number
  writerAddress: string
  readerAddress: string
  members: readonly EndpointMember[]
}

export interface HaproxyConfig {
  /** The runtime API's unix socket (root's, 0600). */
  adminSocket: string
  sets: readonly EndpointSet[]
  /** The user and group HAProxy's worker runs as once it has bound its ports. */
  user: string
  group: string
  /** How long an old worker may keep its connections after a reload (ms). */
  hardStopAfterMs?: number
}

// Names go into the configuration file unquoted: anything but these characters could start a new directive.
const NAME = /^[A-Za-z0-9_.-]{1,64}$/

function checkName(what: string, value: string): string {
  if (!NAME.test(value)) throw new Error(`endpoint ${what} ${JSON.stringify(value)} is not a valid name`)
  return value
}

function checkAddress(what: string, address: string, port: number): string {
  if (!isIPv4(address)) throw new Error(`endpoint ${what} address ${JSON.stringify(address)} is not an IPv4 address`)
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`endpoint ${what} port ${port} is out of range`)
  return `${address}:${port}`
}

export const writerProxy = (setId: string): string => `w-${setId}`
export const readerProxy = (setId: string): string => `r-${setId}`

/** The writer proxy: every member is listed, only the primary enabled (a promote enables another at run time). */
function writer(set: EndpointSet): string[] {
  const lines = [`listen ${writerProxy(set.id)}`, `  bind ${checkAddress('writer', set.writerAddress, set.port)}`]
  for (const m of set.members) {
    lines.push(`  server ${checkName('member', m.id)} ${checkAddress('member', m.address, m.port)}${m.primary ? '' : ' disabled'}`)
  }
  return lines
}

/** The reader proxy: round robin over the replicas that answer HAProxy's check; the primary only as a backup. */
function reader(set: EndpointSet): string[] {
  const lines = [
    `listen ${readerProxy(set.id)}`,
    `  bind ${checkAddress('reader', set.readerAddress, set.port)}`,
    '  balance roundrobin',
    // A replica that died since its last check: the connection is tried on another member, not failed.
    '  option redispatch 1',
    '  retries 2',
  ]
  for (const m of set.members) {
    lines.push(`  server ${checkName('member', m.id)} ${checkAddress('member', m.address, m.port)} check inter 1s fall 2 rise 1${m.primary ? ' backup' : ''}`)
  }
  return lines
}

/** The whole configuration file for `c`, deterministic for the same input (sets sorted by id). */
export function renderConfig(c: HaproxyConfig): string {
  const sets = [...c.sets].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  const lines = [
    '# Written by trove server from its records; edits are lost at the next change.',
    'global',
    `  stats socket ${c.adminSocket} mode 600 level admin`,
    `  user ${checkName('user', c.user)}`,
    `  group ${checkName('group', c.group)}`,
    '  maxconn 4096',
    `  hard-stop-after ${c.hardStopAfterMs ?? 10_000}ms`,
    '',
    'defaults',
    '  mode tcp',
    '  timeout connect 2s',
    // Database sessions idle for long; the engines' own timeouts apply, not the proxy's.
    '  timeout client 24h',
    '  timeout server 24h',
    '  timeout check 1s',
  ]
  for (const set of sets) {
    checkName('set', set.id)
    if (set.members.filter((m) => m.primary).length > 1) throw new Error(`endpoint set ${set.id} has more than one primary`)
    lines.push('', ...writer(set), '', ...reader(set))
  }
  return `${lines.join('\n')}\n`
}
