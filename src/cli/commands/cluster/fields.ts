import type { Cluster, ClusterInstanceCreate, TroveClient } from '../../../sdk/index.js'
import { CliError } from '../../errors.js'
import { findFlavor, findResource } from '../../resolve.js'

/** `cluster show` fields (cli.md 7.5): every key but links, task and instances, flattened. */
export function clusterFields(c: Cluster): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(c)) {
    if (k === 'links' || k === 'task' || k === 'instances') continue
    if (k === 'datastore') {
      out.datastore = c.datastore?.type
      out.datastore_version = c.datastore?.version
      continue
    }
    if (k === 'ip') {
      out.ip = (c.ip ?? []).map((a) => (typeof a === 'string' ? a : a.address)).join(', ')
      continue
    }
    out[k] = v
  }
  if (c.task) {
    out.task_name = c.task.name
    out.task_description = c.task.description
  }
  if (c.instances?.length) out.instance_count = c.instances.length
  return out
}

/** Splits `a=1,nic='x=1,y=2',b=3` at commas outside quotes. */
function splitOutsideQuotes(s: string): string[] {
  const parts: string[] = []
  let cur = ''
  let quote = ''
  for (const ch of s) {
    if (quote) {
      if (ch === quote) quote = ''
      else cur += ch
      continue
    }
    if (ch === '"' || ch === "'") {
      quote = ch
      continue
    }
    if (ch === ',') {
      parts.push(cur)
      cur = ''
      continue
    }
    cur += ch
  }
  parts.push(cur)
  return parts.filter((p) => p !== '')
}

/**
 * One `--instance "flavor=...,volume=...,..."` of cluster create/grow (cli.md 7.5): flavor
 * and modules resolved, `net-id` renamed `network_id`, the volume size sent as a string
 * like troveclient (the API accepts both). `grow` also takes name= and related_to=.
 */
export async function parseClusterInstance(client: TroveClient, value: string, grow: boolean): Promise<ClusterInstanceCreate> {
  const allowed = new Set(['flavor', 'volume', 'volume_type', 'nic', 'availability_zone', 'module', 'type', 'region', ...(grow ? ['name', 'related_to'] : [])])
  const kv: Array<[string, string]> = []
  const unknown: string[] = []
  for (const part of splitOutsideQuotes(value)) {
    const i = part.indexOf('=')
    const k = i < 0 ? part : part.slice(0, i)
    if (i < 0 || !allowed.has(k)) {
      unknown.push(part)
      continue
    }
    kv.push([k, part.slice(i + 1)])
  }
  if (unknown.length) throw new CliError(`Unknown option(s) '${unknown.join(', ')}' specified for instance`)
  const get = (k: string) => kv.filter(([x]) => x === k).map(([, v]) => v)
  const flavor = get('flavor')[0]
  const volume = get('volume')[0]
  if (!flavor) throw new CliError("--instance: 'flavor=<flavor>' is required")
  if (!volume) throw new CliError("--instance: 'volume=<size>' is required")
  const f = await findFlavor(client, flavor)
  const node: ClusterInstanceCreate = { flavorRef: String(f.id), volume: { size: volume } }
  const vt = get('volume_type')[0]
  if (vt) node.volume = { size: volume, type: vt }
  const nics = get('nic').map((n) => {
    const nic: Record<string, string> = {}
    for (const p of n.split(',')) {
      const j = p.indexOf('=')
      const k = p.slice(0, j)
      if (!['net-id', 'port-id', 'v4-fixed-ip'].includes(k)) throw new CliError(`nic: ${k} is not allowed.`)
      nic[k === 'net-id' ? 'network_id' : k] = p.slice(j + 1)
    }
    if ('network_id' in nic === 'port-id' in nic) throw new CliError("nic: give exactly one of 'net-id' and 'port-id'")
    return nic
  })
  if (nics.length) node.nics = nics
  const az = get('availability_zone')[0]
  if (az) node.availability_zone = az
  const modules = get('module')
  if (modules.length) {
    node.modules = []
    for (const m of modules) {
      const mod = await findResource(
        'module',
        m,
        async (id) => (await client.request<{ module: { id: string; name: string } }>('GET', `/modules/${encodeURIComponent(id)}`)).body.module,
        async () => (await client.request<{ modules: Array<{ id: string; name: string }> }>('GET', '/modules')).body.modules,
      )
      node.modules.push({ id: mod.id })
    }
  }
  const types = get('type')
  if (types.length) node.type = types
  const region = get('region')[0]
  if (region) node.region_name = region
  if (grow) {
    const name = get('name')[0]
    if (name) node.name = name
    const rel = get('related_to')[0]
    if (rel) node.related_to = rel
  }
  return node
}
