import { readFile } from 'node:fs/promises'

/** Consecutive retransmission timeouts without an acknowledgement that make a peer silent (~1.4 s at Linux's 200 ms RTO floor). */
export const SILENT_RETRANSMITS = 3

/**
 * The remote ends (`ip:port`) of this network namespace's TCP connections whose kernel has retransmitted, unanswered,
 * SILENT_RETRANSMITS times in a row (/proc/net/tcp and tcp6, column `retrnsmt`: reset by any acknowledgement). A
 * MariaDB replica cut off by the network leaves its binlog dump thread in its source's process list for minutes (until
 * net_write_timeout, or TCP gives up): MariaDB has no source-side timeout like PostgreSQL's wal_sender_timeout. The
 * source's heartbeat to it (every second, docs/ha.md "Dead links") then goes unanswered, which this sees.
 * Hand-written: no npm package reads this table, and `ss` (iproute2) is not in every sandbox.
 */
export async function silentPeers(procNet = '/proc/net'): Promise<Set<string>> {
  const out = new Set<string>()
  for (const file of ['tcp', 'tcp6']) {
    const text = await readFile(`${procNet}/${file}`, 'utf8').catch(() => '')
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length < 7 || Number.parseInt(f[6]!, 16) < SILENT_RETRANSMITS) continue
      const peer = endpoint(f[2]!)
      if (peer) out.add(peer)
    }
  }
  return out
}

/** `0100007F:0CEA` (IPv4) or 32 hex digits and a port (IPv6, IPv4-mapped shown as IPv4): the kernel's words are host-order (little-endian here). */
export function endpoint(hex: string): string | undefined {
  const [addr, port] = hex.split(':')
  if (!addr || !port) return undefined
  const words = addr.match(/.{8}/g) ?? []
  const bytes = words.flatMap((w) => [6, 4, 2, 0].map((i) => Number.parseInt(w.slice(i, i + 2), 16)))
  const p = Number.parseInt(port, 16)
  if (bytes.length === 4) return `${bytes.join('.')}:${p}`
  if (bytes.length !== 16) return undefined
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return `${bytes.slice(12).join('.')}:${p}`
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16))
  return `[${groups.join(':')}]:${p}`
}
