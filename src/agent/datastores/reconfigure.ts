import { exists } from '../engine-process.js'
import type { AccessSpec } from '../../protocol/index.js'
import { ensureIncluded } from './overrides.js'

/**
 * After a config file was rendered again (resize, access, upgrade), the attached
 * configuration group's include line is put back when its file exists: rendering
 * writes the main file from scratch, and the group must keep winning.
 */
export async function keepIncluded(mainConf: string, overridesFile: string, line: string): Promise<void> {
  const present = await exists(overridesFile)
  if (present) await ensureIncluded(mainConf, line)
}

/** An IPv4 CIDR as numbers: network address and mask (both unsigned 32-bit). */
export interface Ipv4Net {
  network: number
  mask: number
  bits: number
}

const CIDR = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/(3[0-2]|[12]?\d)$/

/** Parses "a.b.c.d/n"; the host bits are cleared (127.0.0.5/8 is 127.0.0.0/8). Throws on anything else. */
export function parseCidr(cidr: string): Ipv4Net {
  if (!CIDR.test(cidr)) throw new Error(`'${cidr}' is not an IPv4 CIDR`)
  const [ip, n] = cidr.split('/') as [string, string]
  const bits = Number(n)
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0
  const addr = ip.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0)
  return { network: (addr & mask) >>> 0, mask, bits }
}

/** "a.b.c.d/n" of a parsed network (host bits cleared). */
export function formatCidr(n: Ipv4Net): string {
  return `${[24, 16, 8, 0].map((s) => (n.network >>> s) & 255).join('.')}/${n.bits}`
}

/** The CIDRs that restrict TCP clients, or undefined when anyone may connect (no access, or no CIDRs). */
export function restrictingCidrs(a: AccessSpec | undefined): Ipv4Net[] | undefined {
  const list = a?.allowedCidrs ?? []
  if (list.length === 0) return undefined
  const nets = list.map(parseCidr)
  // 0.0.0.0/0 lets everyone in: no restriction to enforce.
  return nets.some((n) => n.bits === 0) ? undefined : nets
}

/** Checks an AccessSpec from an RPC (BadRequest-worthy errors as exceptions). */
export function checkAccess(v: unknown): AccessSpec {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('access must be an object')
  const o = v as Record<string, unknown>
  const cidrs = o.allowedCidrs ?? []
  if (!Array.isArray(cidrs) || cidrs.some((c) => typeof c !== 'string')) throw new Error('access.allowedCidrs must be a list of strings')
  for (const c of cidrs as string[]) parseCidr(c)
  return { isPublic: o.isPublic === true, allowedCidrs: [...(cidrs as string[])] }
}
