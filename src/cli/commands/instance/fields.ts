import type { Instance } from '../../../sdk/index.js'

/** `instance list` columns (cli.md 7.1), in order. */
export const LIST_COLUMNS = ['ID', 'Name', 'Datastore', 'Datastore Version', 'Status', 'Operating Status', 'Public', 'Addresses', 'Flavor ID', 'Size', 'Role']

export function listRow(i: Instance): unknown[] {
  return [
    i.id,
    i.name,
    i.datastore?.type ?? '',
    i.datastore?.version ?? '',
    i.status,
    i.operating_status ?? '',
    i.access ? (i.access.is_public ?? false) : '',
    i.addresses ?? '',
    i.flavor.id,
    i.volume?.size ?? '-',
    i.replicas ? 'primary' : i.replica_of ? 'replica' : '',
  ]
}

/** `instance show` fields: every key but links, flattened as the openstack client does. */
export function showFields(i: Instance): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(i)) {
    switch (k) {
      case 'links':
        break
      case 'flavor':
        out.flavor = i.flavor?.id
        break
      case 'volume':
        out.volume = i.volume?.size
        if (i.volume?.used !== undefined) out.volume_used = i.volume.used
        break
      case 'ip':
        out.ip = (i.ip ?? []).join(', ')
        break
      case 'datastore':
        out.datastore = i.datastore?.type
        out.datastore_version = i.datastore?.version
        out.datastore_version_number = i.datastore?.version_number ?? null
        break
      case 'configuration':
        out.configuration = i.configuration?.id
        break
      case 'replica_of':
        out.replica_of = i.replica_of?.id
        break
      case 'replicas':
        out.replicas = (i.replicas ?? []).map((r) => r.id).join(', ')
        break
      case 'fault':
        out.fault = i.fault?.message
        out.fault_date = i.fault?.created
        if (i.fault?.details) out.fault_details = i.fault.details
        break
      case 'lab:limits':
        // The lab's extension: the flavor limits this host cannot apply ("... not enforced").
        out.limits = v
        break
      case 'access':
        out.public = i.access?.is_public ?? false
        out.allowed_cidrs = i.access?.allowed_cidrs ?? []
        break
      default:
        out[k] = v
    }
  }
  if (!('access' in i)) {
    out.public = false
    out.allowed_cidrs = []
  }
  return out
}
