import type { Backup, TroveClient } from '../../../sdk/index.js'
import { CliError } from '../../errors.js'
import { pyStr } from '../../output/python-repr.js'
import { findResource, isUuidLike } from '../../resolve.js'
import { GB } from '../../../common/units.js'

/** `backup list` columns (cli.md 7.3), in order. */
export const LIST_COLUMNS = ['ID', 'Instance ID', 'Name', 'Status', 'Parent ID', 'Updated', 'Project ID']
/** `backup list instance` columns: the same without the project. */
export const INSTANCE_LIST_COLUMNS = ['ID', 'Instance ID', 'Name', 'Status', 'Parent ID', 'Updated']

export function listRow(b: Backup, withProject = true): unknown[] {
  const row: unknown[] = [b.id, b.instance_id, b.name, b.status, b.parent_id, b.updated]
  if (withProject) row.push(b.project_id)
  return row
}

/** `backup show` fields: every key, `datastore` flattened to type, version and version id (cli.md 7.3). */
export function showFields(b: Backup): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(b)) {
    if (k === 'links') continue
    if (k === 'datastore') {
      out.datastore = b.datastore?.type
      out.datastore_version = b.datastore?.version
      out.datastore_version_id = b.datastore?.version_id
    } else out[k] = v
  }
  return out
}

/**
 * A backup's size (GiB on the wire, so a small one is 9.4e-08) as people read it, with the wire
 * value after it: `101 B (9.4e-08 GB)`. Tables only: -f value/json keep the number.
 */
export function readableSize(gb: unknown): string | undefined {
  if (typeof gb !== 'number' || !Number.isFinite(gb) || gb < 0) return undefined
  const bytes = gb * GB
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = bytes
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  const text = u === 0 ? `${Math.round(v)} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`
  return `${text} (${pyStr(gb)} GB)`
}

/** `backup show`/`create` output: the fields, with the size readable in a table. */
export function showData(b: Backup): { kind: 'show'; fields: Record<string, unknown>; display?: Record<string, string> } {
  const size = readableSize(b.size)
  return { kind: 'show', fields: showFields(b), ...(size ? { display: { size } } : {}) }
}

/** Algorithm A (cli.md 4): GET by id, else list and match the name exactly. */
export function findBackup(client: TroveClient, arg: string): Promise<Backup> {
  return findResource(
    'backup',
    arg,
    (id) => client.backups.get(id),
    () => client.backups.list(),
  )
}

/** Algorithm C for `backup delete`: UUID-like verbatim, else exactly one backup of that name. */
export async function backupIdFor(client: TroveClient, arg: string): Promise<string> {
  if (isUuidLike(arg)) return arg
  const ids: string[] = []
  for await (const b of client.backups.list()) if (b.name === arg) ids.push(b.id)
  if (ids.length === 1) return ids[0]
  throw new CliError(`Failed to get database backup ${arg}, error: ${ids.length === 0 ? '404 (HTTP 404)' : ''}`)
}

/** Algorithm C for `--instance` of backup create/list: UUID-like verbatim, else exactly one instance of that name. */
export async function instanceRefFor(client: TroveClient, arg: string): Promise<string> {
  if (isUuidLike(arg)) return arg
  const ids: string[] = []
  for await (const i of client.instances.list()) if (i.name === arg) ids.push(i.id)
  if (ids.length === 1) return ids[0]
  throw new CliError(`Failed to get resource ID for ${arg}, error: ${ids.length === 0 ? '404 (HTTP 404)' : ''}`)
}
