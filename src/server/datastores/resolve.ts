import type { Lab } from '../lab.js'
import { missingDatastoreMessage } from '../compute/engines.js'
import { datastores, type DatastoreRow } from '../db/datastores.js'
import { datastoreVersions, type VersionRow } from '../db/datastore-versions.js'
import { type Fault, badRequest, notFound } from '../errors.js'

export type { DatastoreRow, VersionRow }

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Does `ref` look like a version id (a UUID)? Decides between 404 and 400 for unknown versions. */
export function isUuid(ref: string): boolean {
  return UUID_RE.test(ref)
}

/** A 404 for a datastore the lab lacks, saying what to do about it (engines.ts). */
export function datastoreNotFound(lab: Lab, name: string): Fault {
  return notFound(missingDatastoreMessage(name, datastores(lab.db).namesWithActiveVersions()))
}

export function findDatastore(lab: Lab, ref: string): DatastoreRow | undefined {
  return datastores(lab.db).find(ref)
}

/** A datastore's versions by name (only the active ones with `activeOnly`). */
export function versionsOf(lab: Lab, datastoreId: string, activeOnly: boolean): VersionRow[] {
  return datastoreVersions(lab.db).ofDatastore(datastoreId, activeOnly)
}

/** A datastore visible to the caller (non-admins see only datastores with an active version). */
export function visibleDatastore(lab: Lab, ref: string, admin: boolean): DatastoreRow {
  const ds = findDatastore(lab, ref)
  if (!ds || (!admin && versionsOf(lab, ds.id, true).length === 0)) throw datastoreNotFound(lab, ref)
  return ds
}

/** The datastores a caller sees (non-admins: those with an active version). */
export function visibleDatastores(lab: Lab, admin: boolean): DatastoreRow[] {
  const all = datastores(lab.db).list()
  return admin ? all : all.filter((ds) => versionsOf(lab, ds.id, true).length > 0)
}

/** A version of a visible datastore by id or name (404 for an unknown id, 400 for an unknown name). */
export function versionByRef(lab: Lab, dsRef: string, ref: string, admin: boolean): VersionRow {
  const ds = visibleDatastore(lab, dsRef, admin)
  const all = versionsOf(lab, ds.id, !admin)
  const v = all.find((x) => x.id === ref) ?? all.find((x) => x.name === ref)
  if (!v) throw isUuid(ref) ? notFound(`Datastore version '${ref}' cannot be found.`) : badRequest(`Datastore version '${ref}' cannot be found.`)
  return v
}

/** A version by id (404 when unknown, or inactive for a non-admin). */
export function versionById(lab: Lab, id: string, admin: boolean): VersionRow {
  const v = datastoreVersions(lab.db).get(id)
  if (!v || (!admin && !v.active)) throw notFound(`Datastore version '${id}' cannot be found.`)
  return v
}

/**
 * Upstream's get_datastore_version for instance create: datastore by name or id
 * (404 when unknown, with an install hint when it is a known engine that is not
 * installed), version by name or id (400 when unknown or inactive), default version
 * when none is given.
 */
export function resolveDatastoreVersion(lab: Lab, spec: { type?: string; version?: string; version_number?: string } | undefined): VersionRow {
  if (!spec?.type) {
    if (spec?.version && UUID_RE.test(spec.version)) {
      const v = datastoreVersions(lab.db).get(spec.version)
      if (v?.active) return v
    }
    throw badRequest("Please specify datastore. Default datastore 'None' cannot be found.")
  }
  const ds = findDatastore(lab, spec.type)
  const active = ds ? versionsOf(lab, ds.id, true) : []
  if (!ds || active.length === 0) throw datastoreNotFound(lab, spec.type)
  let v: VersionRow | undefined
  if (spec.version) {
    const all = versionsOf(lab, ds.id, false)
    v = all.find((x) => x.id === spec.version) ?? all.find((x) => x.name === spec.version)
    if (!v && spec.version_number === undefined) v = all.find((x) => x.version === spec.version)
    if (!v) throw badRequest(`Datastore version '${spec.version}' cannot be found.`)
    if (spec.version_number !== undefined && v.version !== spec.version_number) throw badRequest(`Datastore version '${spec.version}' with version number '${spec.version_number}' cannot be found.`)
  } else if (spec.version_number) {
    v = active.find((x) => x.version === spec.version_number)
    if (!v) throw badRequest(`Datastore version number '${spec.version_number}' cannot be found.`)
  } else {
    v = active.find((x) => x.id === ds.default_version_id)
    if (!v) throw badRequest(`Default version for datastore '${ds.name}' not found.`)
  }
  if (!v.active) throw badRequest(`Datastore version '${v.name}' is not active.`)
  return v
}

/** Upstream's get_datastore_version(type=ds, version=ver): datastore by name or id, version by id or name, active. */
export function activeVersionOf(lab: Lab, dsRef: string, ref: string): VersionRow {
  const ds = findDatastore(lab, dsRef)
  if (!ds) throw datastoreNotFound(lab, dsRef)
  const all = versionsOf(lab, ds.id, false)
  const v = all.find((x) => x.id === ref) ?? all.find((x) => x.name === ref)
  if (!v) throw isUuid(ref) ? notFound(`Datastore version '${ref}' cannot be found.`) : badRequest(`Datastore version '${ref}' cannot be found.`)
  if (!v.active) throw badRequest(`Datastore version '${v.name}' is not active.`)
  return v
}

/**
 * The version a new configuration group is for: upstream's get_datastore_version,
 * except that a version named outright may be inactive (api.md 6.14: inactive
 * versions accepted).
 */
export function groupVersion(lab: Lab, spec: { type?: string; version?: string; version_number?: string } | undefined): VersionRow {
  if (spec?.type && spec.version) {
    const ds = findDatastore(lab, spec.type)
    if (ds) {
      const all = versionsOf(lab, ds.id, false)
      const v = all.find((x) => x.id === spec.version) ?? all.find((x) => x.name === spec.version)
      if (v && (spec.version_number === undefined || v.version === spec.version_number)) return v
    }
  }
  return resolveDatastoreVersion(lab, spec ?? {})
}

/** The name of a version's datastore. */
export function datastoreNameOf(lab: Lab, v: VersionRow): string {
  return datastores(lab.db).nameOf(v.datastore_id) as string
}
