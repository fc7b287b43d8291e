import { createHash } from 'node:crypto'
import { existsSync, readdirSync } from 'node:fs'
import { isIPv4 } from 'node:net'
import { join, resolve } from 'node:path'
import type { AccessSpec } from '../../protocol/resize.js'
import { removeFirewall } from './firewall.js'
import { DEFAULT_CNI_PATH, sweepOrphanNetworks } from './network.js'

// What a sandboxed lab needs of its host and how it names its parts (sandboxed.ts uses them).

/** The host tools a sandboxed lab runs, and the Debian package of each. */
const HOST_TOOLS: Array<[string, string]> = [
  ['runc', 'runc'],
  ['catatonit', 'catatonit'],
  ['nft', 'nftables'],
  ['ip', 'iproute2'],
  ['losetup', 'mount'],
  ['mount', 'mount'],
  ['umount', 'mount'],
  ['findmnt', 'util-linux'],
  ['mkfs.ext4', 'e2fsprogs'],
]

/** What to do about a host that cannot run sandboxes (the default isolation). */
export const SANDBOX_HOST_HINT = 'bash scripts/setup.sh (as root); or trove server --isolation none (instances not isolated)'

/**
 * Why this host cannot run sandboxes, in one line (what is missing and the package to install), or
 * undefined: the server refuses `--isolation sandbox` at start with it, before making anything.
 */
export function sandboxHostProblem(o: { uid?: number; path?: string; cniPath?: string } = {}): string | undefined {
  if ((o.uid ?? process.getuid?.()) !== 0) return '--isolation sandbox needs root (loop devices, mounts, network namespaces, nftables, runc)'
  const dirs = (o.path ?? process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').filter(Boolean)
  for (const [tool, pkg] of HOST_TOOLS) if (!dirs.some((d) => existsSync(join(d, tool)))) return `--isolation sandbox needs ${tool}, which is not installed (Debian package ${pkg})`
  for (const plugin of ['bridge', 'host-local']) {
    const dir = o.cniPath ?? DEFAULT_CNI_PATH
    if (!existsSync(join(dir, plugin))) return `--isolation sandbox needs the CNI ${plugin} plugin in ${dir} (Debian package containernetworking-plugins)`
  }
  if (!existsSync('/dev/loop-control')) return '--isolation sandbox needs loop devices (/dev/loop-control is missing: the loop module, or a container given no loop devices)'
  return undefined
}

/** The lab's id for its bridge, nft tables and cgroup parent: a digest of its data directory. */
export function labIdOf(dataDir: string): string {
  return createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 12)
}

/**
 * The source CIDRs the packet filter lets in from the lab's instances (IPv4 only: the lab network is); the
 * host always may connect. Other instances are refused unless the owner allowed them, as a VM's security
 * group refuses other tenants' VMs: no allowed_cidrs means none of them ([]); `is_public` without
 * allowed_cidrs means every source (upstream's default rule for a public instance is 0.0.0.0/0);
 * only IPv6 sources named means none of the (IPv4) lab.
 */
export function firewallCidrs(access: AccessSpec | undefined): string[] {
  const cidrs = access?.allowedCidrs ?? []
  if (!cidrs.length) return access?.isPublic ? ['0.0.0.0/0'] : []
  return cidrs.filter((c) => isIPv4(c.split('/')[0] ?? ''))
}

/** An instance's sandbox record, in its directory (sandboxed.ts writes it before each part is made). */
export const SANDBOX_RECORD = 'sandbox.json'

/** The instances under `instancesDir` that have a sandbox (their record). */
export function sandboxedInstanceIds(instancesDir: string): string[] {
  try {
    return readdirSync(instancesDir).filter((id) => existsSync(join(instancesDir, id, SANDBOX_RECORD)))
  } catch {
    return []
  }
}

/**
 * The network and packet filter of labs whose data dir is gone (network.ts sweepOrphanNetworks): swept at each
 * sandboxed lab's start, so that what one lab left behind does not stay on the host for good. Returns their ids.
 */
export async function sweepOrphanLabs(claimDir: string): Promise<string[]> {
  const ids = await sweepOrphanNetworks(claimDir, labIdOf)
  for (const labId of ids) await removeFirewall({ labId })
  return ids
}
