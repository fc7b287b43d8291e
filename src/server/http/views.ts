import type { FastifyRequest } from 'fastify'
import type { InstanceJoined } from '../db/instances.js'
import { configurationStore } from '../db/configurations.js'
import type { VersionRow } from '../db/datastore-versions.js'
import type { FlavorRow } from '../db/flavors.js'

export type { FlavorRow, VersionRow }
import type { Lab } from '../lab.js'
import { instanceStatus, operatingStatus } from '../instances/status.js'
import { baseUrl } from './server.js'
import { archiveView } from '../backups/archive-store.js'
import { rejoinView } from '../tasks/rejoin-replica.js'
import { autoFailoverView } from '../ha/flag.js'
import { syncReplicationView } from '../ha/sync.js'
import { endpointView } from '../endpoints/sets.js'

/**
 * Response shapes (api.md section 8), field for field and in upstream's key order.
 * Links use the request's own scheme: upstream forces https, which breaks the links
 * of a plain-http lab (upstream quirk, not copied).
 */
export function links(req: FastifyRequest, tenant: string, collection: string, id: string) {
  const base = baseUrl(req)
  return [
    { href: `${base}/v1.0/${tenant}/${collection}/${id}`, rel: 'self' },
    { href: `${base}/${collection}/${id}`, rel: 'bookmark' },
  ]
}

export const LAB_NETWORK = 'trove-lab'

export interface VolumeUsage {
  used: number
  used_percent: number
}

export function instanceView(req: FastifyRequest, inst: InstanceJoined, lab: Lab, o: { detail: boolean; admin: boolean; usage?: VolumeUsage }) {
  const tenant = inst.tenant_id
  const access = inst.access ? (JSON.parse(inst.access) as Record<string, unknown>) : { is_public: false }
  const view: Record<string, unknown> = {
    id: inst.id,
    name: inst.name,
    status: instanceStatus(inst),
    operating_status: operatingStatus(inst, lab),
    links: links(req, (req.params as { tenant?: string }).tenant ?? tenant, 'instances', inst.id),
    flavor: { id: inst.flavor_id, links: links(req, (req.params as { tenant?: string }).tenant ?? tenant, 'flavors', inst.flavor_id) },
    datastore: { type: inst.ds_name, version: inst.dsv_name, ...(o.detail ? { version_number: inst.dsv_version } : {}) },
    region: inst.region_id,
    access,
  }
  if (inst.address) {
    view.ip = [inst.address]
    view.addresses = [{ address: inst.address, type: 'private', network: LAB_NETWORK }]
  }
  view.volume = { size: inst.volume_size, ...(o.usage ?? {}) }
  if (o.admin) view.tenant_id = tenant
  Object.assign(view, replicationView(req, inst, lab))
  if (o.detail) {
    view.created = inst.created
    view.updated = inst.updated
    view.service_status_updated = inst.status_updated ?? inst.updated
    if (inst.fault_message) view.fault = { message: inst.fault_message, created: inst.fault_created, details: o.admin ? inst.fault_details : null }
    // The attached configuration group (transcript: after service_status_updated).
    const configurationId = (inst as InstanceJoined & { configuration_id?: string | null }).configuration_id
    const groupName = configurationId ? configurationStore(lab.db).groups.nameOf(configurationId) : undefined
    if (configurationId && groupName !== undefined)
      view.configuration = { id: configurationId, name: groupName, links: links(req, (req.params as { tenant?: string }).tenant ?? tenant, 'configurations', configurationId) }
    // A lab extension, only where this host cannot apply some of the flavor's cgroup limits (the
    // banner's and hwinfo's `limits`): an upstream field never changes meaning, the key is namespaced.
    // Lab extension (README "API notes"): how long automated backups are kept.
    if (inst.backup_retention_days !== undefined) view.backup_retention = { days: inst.backup_retention_days, count: inst.backup_retention_count ?? null }
    // Lab extension (README "API notes"): point-in-time restore window and the log archiver's state.
    Object.assign(view, archiveView(lab, inst.id))
    // Lab extension (README "API notes", issue 16): the replication set's writer and reader endpoints.
    Object.assign(view, endpointView(lab, inst.id))
    // Lab extension (README "API notes", issue 16): an ejected source's pending rejoin.
    Object.assign(view, rejoinView(lab, inst.id))
    // Lab extension (README "API notes", docs/ha.md): automatic failover of the instance's replication set.
    if (inst.slave_of_id || lab.instances.replicaIds(inst.id).length || inst.auto_failover) Object.assign(view, autoFailoverView(lab, inst))
    // Lab extension (README "API notes", docs/ha.md): synchronous replication of the set, and how it stands.
    if (inst.slave_of_id || lab.instances.replicaIds(inst.id).length || inst.sync_replication) Object.assign(view, syncReplicationView(lab, inst))
    const limits = lab.compute.limitsText()
    if (limits.includes('not enforced')) view['lab:limits'] = limits
    // A lab extension too (docs/isolation.md): `sandbox` (runc, its own uid, volume and network) or `none`.
    view['lab:isolation'] = lab.compute.isolationOf(inst.id)
  }
  return view
}

export function flavorView(req: FastifyRequest, tenant: string, f: FlavorRow) {
  return {
    id: /^\d+$/.test(f.id) ? Number(f.id) : null,
    links: links(req, tenant, 'flavors', f.id),
    name: f.name,
    ram: f.ram,
    vcpus: f.vcpus,
    disk: f.disk,
    ephemeral: f.ephemeral,
    str_id: f.id,
  }
}

export function versionView(req: FastifyRequest, tenant: string, v: VersionRow, o: { admin: boolean; withDatastore: boolean }) {
  const view: Record<string, unknown> = {
    id: v.id,
    name: v.name,
    version: v.version,
    links: links(req, tenant, 'datastores/versions', v.id),
  }
  if (o.withDatastore) view.datastore = v.datastore_id
  if (o.admin) {
    Object.assign(view, {
      active: v.active === 1,
      packages: v.packages,
      image: v.image_id,
      registry_ext: v.registry_ext,
      repl_strategy: v.repl_strategy,
      image_tags: v.image_tags ? v.image_tags.split(',') : [],
    })
  }
  return view
}

/**
 * `replica_of: {id, links}` on a replica and `replicas: [{id, links}]` on a source,
 * in list and show views alike (upstream's InstanceView).
 */
export function replicationView(req: FastifyRequest, inst: InstanceJoined, lab: Lab): Record<string, unknown> {
  const tenant = (req.params as { tenant?: string }).tenant ?? inst.tenant_id
  const out: Record<string, unknown> = {}
  const source = inst.slave_of_id
  if (source) out.replica_of = { id: source, links: links(req, tenant, 'instances', source) }
  // Rows of the instance queries carry their replicas' ids; other callers look them up.
  const replicas = inst.replica_ids !== undefined ? (inst.replica_ids ? inst.replica_ids.split(',') : []) : lab.instances.replicaIds(inst.id)
  if (replicas.length) out.replicas = replicas.map((r) => ({ id: r, links: links(req, tenant, 'instances', r) }))
  return out
}
