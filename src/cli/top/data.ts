import { APIError, type Instance, type TroveClient } from '../../sdk/index.js'

/** A backup as the public API lists it (only what the view needs). */
export interface TopBackup {
  id: string
  name: string
  status: string
  instance_id?: string
  updated?: string
}

/** One instance row of `trove top`. */
export interface TopRow {
  id: string
  name: string
  status: string
  datastore: string
  address: string
  flavor: string
  /** "0.12/1 GB" or "-/1 GB" when the guest did not report usage. */
  volume: string
  /** Seconds since the guest last reported its status (service_status_updated), if known. */
  heartbeatAgeS?: number
  /** Running work: a non-ACTIVE status and backups in progress. */
  tasks: string
  instance: Instance
  backups: TopBackup[]
}

/** What one refresh returns. */
export interface TopSnapshot {
  rows: TopRow[]
  at: number
  warnings: string[]
}

const BUSY_BACKUP = new Set(['NEW', 'BUILDING', 'SAVING', 'RESTORING', 'DELETE_FAILED'])

/** "0.12/1 GB": the volume used (if the guest reported it) over its size. */
export function volumeText(i: Instance): string {
  const size = i.volume?.size
  if (size === undefined || size === null) return '-'
  const used = i.volume?.used
  return `${used === undefined ? '-' : Number(used).toFixed(2)}/${size} GB`
}

/** "4s", "3m", "2h" */
export function ageText(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s)) return '-'
  if (s < 0) return '0s'
  if (s < 120) return `${Math.round(s)}s`
  if (s < 7200) return `${Math.round(s / 60)}m`
  return `${Math.round(s / 3600)}h`
}

function parseTime(t: string | undefined): number | undefined {
  if (!t) return undefined
  const ms = Date.parse(/Z|[+-]\d\d:?\d\d$/.test(t) ? t : `${t}Z`)
  return Number.isFinite(ms) ? ms : undefined
}

/**
 * Builds one row from an instance (as GET /instances/{id} returns it) and its backups; the
 * flavor shows by name where `flavorNames` (id -> name, from GET /flavors) knows it.
 */
export function toRow(i: Instance, backups: TopBackup[], now: number, flavorNames: ReadonlyMap<string, string> = new Map()): TopRow {
  const hb = parseTime(i.service_status_updated)
  const busy = backups.filter((b) => BUSY_BACKUP.has(b.status))
  const tasks = [...(i.status !== 'ACTIVE' ? [i.status] : []), ...busy.map((b) => `backup ${b.name} ${b.status}`)].join(', ')
  return {
    id: i.id,
    name: i.name,
    status: i.status,
    datastore: [i.datastore?.type, i.datastore?.version].filter(Boolean).join(' '),
    address: i.addresses?.[0]?.address ?? i.ip?.[0] ?? '',
    flavor: flavorNames.get(String(i.flavor?.id ?? '')) ?? String(i.flavor?.id ?? ''),
    volume: volumeText(i),
    heartbeatAgeS: hb === undefined ? undefined : (now - hb) / 1000,
    tasks,
    instance: i,
    backups,
  }
}

/**
 * One refresh through public API calls only: the instance list, each instance's
 * details (volume used, last heartbeat), and the backups (GET /backups; a Trove
 * without that endpoint, 404/501, just shows none).
 */
export async function fetchSnapshot(client: TroveClient, now = () => Date.now()): Promise<TopSnapshot> {
  const warnings: string[] = []
  const list = (await client.instances.page({})).items
  const details = await Promise.all(
    list.map(async (i) => {
      try {
        return await client.instances.get(i.id)
      } catch (e) {
        if (e instanceof APIError && e.status === 404) return undefined
        return i
      }
    }),
  )
  // Instances name their flavor by id only: the names come from the flavor list (ids where it fails).
  const flavorNames = new Map<string, string>()
  try {
    for (const f of await client.flavors.list()) {
      if (!f.name) continue
      for (const id of [f.id, f.str_id]) if (id !== undefined && id !== null) flavorNames.set(String(id), f.name)
    }
  } catch (e) {
    if (!(e instanceof APIError)) throw e
    warnings.push(`flavor names unavailable (HTTP ${e.status})`)
  }
  let backups: TopBackup[] = []
  try {
    backups = (await client.request<{ backups: TopBackup[] }>('GET', '/backups')).body.backups ?? []
  } catch (e) {
    if (!(e instanceof APIError && [403, 404, 405, 501].includes(e.status))) throw e
    warnings.push(`backups unavailable (HTTP ${e.status})`)
  }
  const t = now()
  const rows = details
    .filter((i): i is Instance => i !== undefined)
    .map((i) =>
      toRow(
        i,
        backups.filter((b) => b.instance_id === i.id),
        t,
        flavorNames,
      ),
    )
  rows.sort((a, b) => a.name.localeCompare(b.name))
  return { rows, at: t, warnings }
}

/** The snapshot as list data for the renderer (`trove top` off a terminal). */
export function snapshotTable(s: TopSnapshot): { kind: 'list'; columns: string[]; rows: unknown[][] } {
  return {
    kind: 'list',
    columns: ['Name', 'Status', 'Datastore', 'Address', 'Flavor', 'Volume', 'Heartbeat', 'Tasks'],
    rows: s.rows.map((r) => [r.name, r.status, r.datastore, r.address, r.flavor, r.volume, ageText(r.heartbeatAgeS), r.tasks]),
  }
}
