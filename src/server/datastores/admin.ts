import { randomUUID } from 'node:crypto'
import type { Lab } from '../lab.js'
import { describeEngines, installedEngineFor, isRunnableManager, RUNNABLE_MANAGERS } from '../compute/engine-match.js'
import { forgetParked } from '../db/datastore-registry.js'
import { datastores } from '../db/datastores.js'
import { datastoreVersions, type MgmtVersionRow } from '../db/datastore-versions.js'
import { DATASTORE_VERSION_REFERENCES } from '../db/migrations/references.js'
import { seedConfigurationParameters } from '../configurations/parameter-seed.js'
import { badRequest, notFound } from '../errors.js'
import { findDatastore } from './resolve.js'

export type { MgmtVersionRow }

/** What an admin gives for a new version (api.md 7.6), checked against the schema by the route. */
export interface VersionFields {
  name: string
  datastore_name: string
  datastore_manager: string
  active: boolean
  image?: string
  image_tags?: string[]
  packages?: string[]
  registry_ext?: string
  repl_strategy?: string
  default?: boolean
  version?: string
}

/** What a PATCH may change (the datastore and the version number cannot). */
export type VersionChanges = Partial<Omit<VersionFields, 'datastore_name' | 'version'>>

function isForeignKeyError(e: unknown): boolean {
  return (e as { code?: string }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY'
}

export function loadMgmtVersion(lab: Lab, id: string): MgmtVersionRow {
  const v = datastoreVersions(lab.db).mgmtGet(id)
  if (!v) throw notFound(`Datastore version '${id}' cannot be found.`)
  return v
}

export function listMgmtVersions(lab: Lab): MgmtVersionRow[] {
  return datastoreVersions(lab.db).mgmtList()
}

function requireRunnable(manager: string): void {
  if (!isRunnableManager(manager)) throw badRequest(`Datastore manager ${manager} cannot be found. This lab runs ${RUNNABLE_MANAGERS.join(', ')}.`)
}

/** An active version needs an installed engine that can run it (else its instances could not start). */
function engineForActive(lab: Lab, name: string, manager: string, version: string) {
  const engine = installedEngineFor(lab.engines, manager, version)
  if (!engine) {
    throw badRequest(
      `Datastore version '${name}' cannot be active: no installed ${manager} engine has version ${version} ` +
        `(installed when the server started: ${describeEngines(lab.engines, manager)}). Install it and restart 'trove server', ` +
        'use the version number of an installed engine, or make the version inactive.',
    )
  }
  return engine
}

/**
 * Upstream refuses the same name with the same version number; names resolve versions
 * in instance create, so this lab keeps them unique within a datastore altogether.
 */
function refuseTaken(lab: Lab, datastoreId: string, datastoreName: string, name: string, version: string, except?: string): void {
  const other = datastoreVersions(lab.db).nameTaken(datastoreId, name, except)
  if (!other) return
  if (other.version === version) throw badRequest(`A datastore version with the name '${name}' and version '${version}' already exists.`)
  throw badRequest(`A datastore version with the name '${name}' already exists in datastore '${datastoreName}' (version '${other.version}'); version names are unique within a datastore.`)
}

/** Route 95: a new version (and its datastore when missing); everything is checked before anything is written. */
export function createVersion(lab: Lab, v: VersionFields): string {
  const version = v.version ?? v.name // upstream: the name doubles as the version number
  // The lab has no Glance: an image id or tags are recorded as given, but one is still required (upstream).
  if (!v.image && !v.image_tags?.length) throw badRequest('Image or image tags must be specified.')
  requireRunnable(v.datastore_manager)
  const engine = v.active ? engineForActive(lab, v.name, v.datastore_manager, version) : installedEngineFor(lab.engines, v.datastore_manager, version)
  // Upstream creates the datastore first and may then refuse the version, leaving an empty datastore behind.
  const id = lab.db.transaction(() => {
    let ds = findDatastore(lab, v.datastore_name)
    if (ds) refuseTaken(lab, ds.id, ds.name, v.name, version)
    else {
      ds = { id: randomUUID(), name: v.datastore_name, default_version_id: null }
      datastores(lab.db).insert(ds.id, ds.name)
    }
    const versionId = randomUUID()
    datastoreVersions(lab.db).insert({
      id: versionId,
      datastore_id: ds.id,
      name: v.name,
      manager: v.datastore_manager,
      version,
      image_id: v.image ?? null,
      image_tags: (v.image_tags ?? []).join(','),
      packages: (v.packages ?? []).join(','),
      active: v.active ? 1 : 0,
      bin_dir: engine?.binDir ?? null,
      registry_ext: v.registry_ext ?? null,
      repl_strategy: v.repl_strategy ?? null,
    })
    if (v.default) datastores(lab.db).setDefault(ds.id, versionId)
    lab.log(`datastore version ${v.datastore_name} ${v.name} (${v.datastore_manager} ${version}) registered by an admin${v.active ? '' : ', inactive'}`)
    return versionId
  })()
  // The configuration parameters its manager accepts (the start does this for registered engines).
  seedConfigurationParameters(lab.db, [id])
  return id
}

const INSTANCES = DATASTORE_VERSION_REFERENCES.find((r) => r.table === 'instances')!

/** Route 96: changes what an admin may change of a version. */
export function updateVersion(lab: Lab, id: string, body: VersionChanges): void {
  const repo = datastoreVersions(lab.db)
  const v = loadMgmtVersion(lab, id)
  const name = body.name ?? v.name
  const manager = body.datastore_manager ?? v.manager
  const active = body.active ?? v.active === 1
  const image = body.image ?? v.image_id
  const tags = body.image_tags ?? (v.image_tags ? v.image_tags.split(',') : [])
  if (name !== v.name) refuseTaken(lab, v.datastore_id, v.datastore_name, name, v.version, v.id)
  if ((body.image !== undefined || body.image_tags !== undefined) && !image && tags.length === 0) throw badRequest('Image or image tags must be specified.')
  if (manager !== v.manager) {
    requireRunnable(manager)
    // Live instances of this version run the old manager's engine: their records would lie.
    if (repo.usedBy(INSTANCES, id)) throw badRequest('Datastore version is in use by instance.')
  }
  const engine = active ? engineForActive(lab, name, manager, v.version) : installedEngineFor(lab.engines, manager, v.version)
  lab.db.transaction(() => {
    repo.update(id, {
      name,
      manager,
      image_id: image,
      image_tags: tags.join(','),
      packages: body.packages ? body.packages.join(',') : v.packages,
      active: active ? 1 : 0,
      bin_dir: engine?.binDir ?? v.bin_dir,
      registry_ext: body.registry_ext ?? v.registry_ext,
      repl_strategy: body.repl_strategy ?? v.repl_strategy,
    })
    if (body.default === true) datastores(lab.db).setDefault(v.datastore_id, id)
    else if (body.default === false && v.default_version_id === id) datastores(lab.db).setDefault(v.datastore_id, null)
    if (body.active !== undefined) forgetParked(lab.db, id)
  })()
  if (manager !== v.manager) seedConfigurationParameters(lab.db, [id]) // the new manager's parameters replace the old one's
}

/**
 * Route 97: a version no live record uses. Its own parameters go with it (upstream);
 * deleted records keep no dangling id (SQLite enforces foreign keys), and a deleted
 * record whose column cannot be NULL keeps the version.
 */
export function deleteVersion(lab: Lab, id: string): void {
  const repo = datastoreVersions(lab.db)
  const v = loadMgmtVersion(lab, id)
  for (const r of DATASTORE_VERSION_REFERENCES) {
    if (r.owned) continue
    const what = r.resource ?? r.table
    if (repo.usedBy(r, id)) throw badRequest(`Datastore version is in use by ${what}.`)
    if (!r.nullable && repo.referencedBy(r, id)) throw badRequest(`Datastore version is still referenced by deleted ${what} records and cannot be deleted.`)
  }
  try {
    lab.db.transaction(() => {
      for (const r of DATASTORE_VERSION_REFERENCES) repo.release(r, id)
      if (v.default_version_id === id) datastores(lab.db).setDefault(v.datastore_id, null)
      repo.delete(id)
    })()
  } catch (e) {
    if (isForeignKeyError(e)) throw badRequest(`Datastore version ${id} is still referenced and cannot be deleted.`)
    throw e
  }
  lab.log(`datastore version ${v.datastore_name} ${v.name} deleted by an admin`)
}

/** Route 58: a datastore without versions. */
export function deleteDatastore(lab: Lab, ref: string): void {
  const ds = findDatastore(lab, ref)
  if (!ds) throw notFound(`Datastore '${ref}' cannot be found.`)
  if (datastoreVersions(lab.db).anyOfDatastore(ds.id)) throw badRequest(`Datastore versions exist for datastore ${ref}.`)
  try {
    datastores(lab.db).delete(ds.id)
  } catch (e) {
    if (isForeignKeyError(e)) throw badRequest(`Datastore ${ref} is still referenced and cannot be deleted.`)
    throw e
  }
  lab.log(`datastore ${ds.name} deleted by an admin`)
}
