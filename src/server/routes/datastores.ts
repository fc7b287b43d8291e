import type { FastifyInstance } from 'fastify'
import type { Lab } from '../lab.js'
import { missingDatastoreMessage } from '../compute/engines.js'
import { caller } from '../http/guard.js'
import { type Fault, badRequest, notFound } from '../errors.js'
import { links, versionView, type VersionRow } from '../http/views.js'
import { listFlavors } from './flavors.js'
import { flavorView } from '../http/views.js'

interface DatastoreRow {
  id: string
  name: string
  default_version_id: string | null
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** A 404 for a datastore the lab lacks, saying what to do about it (engines.ts). */
export function datastoreNotFound(lab: Lab, name: string): Fault {
  const names = (lab.db.prepare('SELECT DISTINCT d.name FROM datastores d JOIN datastore_versions v ON v.datastore_id = d.id WHERE v.active = 1').all() as Array<{ name: string }>).map((r) => r.name)
  return notFound(missingDatastoreMessage(name, names))
}

export function findDatastore(lab: Lab, ref: string): DatastoreRow | undefined {
  return lab.db.prepare('SELECT * FROM datastores WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1').get(ref, ref, ref) as DatastoreRow | undefined
}

function versionsOf(lab: Lab, datastoreId: string, activeOnly: boolean): VersionRow[] {
  return lab.db.prepare(`SELECT * FROM datastore_versions WHERE datastore_id = ? ${activeOnly ? 'AND active = 1' : ''} ORDER BY name`).all(datastoreId) as VersionRow[]
}

/** A datastore visible to the caller (non-admins see only datastores with an active version). */
function visibleDatastore(lab: Lab, ref: string, admin: boolean): DatastoreRow {
  const ds = findDatastore(lab, ref)
  if (!ds || (!admin && versionsOf(lab, ds.id, true).length === 0)) throw datastoreNotFound(lab, ref)
  return ds
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
      const v = lab.db.prepare('SELECT * FROM datastore_versions WHERE id = ?').get(spec.version) as VersionRow | undefined
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

export async function datastoreRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  const datastoreView = (req: Parameters<typeof links>[0], tenant: string, ds: DatastoreRow, admin: boolean) => {
    const versions = versionsOf(lab, ds.id, !admin)
    const view: Record<string, unknown> = {
      id: ds.id,
      name: ds.name,
      links: links(req, tenant, 'datastores', ds.id),
      versions: versions.map((v) => versionView(req, tenant, v, { admin, withDatastore: false })),
    }
    if (ds.default_version_id && versions.some((v) => v.id === ds.default_version_id)) view.default_version = ds.default_version_id
    return view
  }

  app.get('/datastores', async (req) => {
    const { tenant } = req.params as { tenant: string }
    const { isAdmin } = caller(req)
    const all = lab.db.prepare('SELECT * FROM datastores ORDER BY name').all() as DatastoreRow[]
    const shown = isAdmin ? all : all.filter((ds) => versionsOf(lab, ds.id, true).length > 0)
    return { datastores: shown.map((ds) => datastoreView(req, tenant, ds, isAdmin)) }
  })

  app.get('/datastores/:ds', async (req) => {
    const { tenant, ds } = req.params as { tenant: string; ds: string }
    const { isAdmin } = caller(req)
    return { datastore: datastoreView(req, tenant, visibleDatastore(lab, ds, isAdmin), isAdmin) }
  })

  app.get('/datastores/:ds/versions', async (req) => {
    const { tenant, ds } = req.params as { tenant: string; ds: string }
    const { isAdmin } = caller(req)
    const row = visibleDatastore(lab, ds, isAdmin)
    return { versions: versionsOf(lab, row.id, !isAdmin).map((v) => versionView(req, tenant, v, { admin: isAdmin, withDatastore: true })) }
  })

  const versionByRef = (dsRef: string, ref: string, admin: boolean): VersionRow => {
    const ds = visibleDatastore(lab, dsRef, admin)
    const all = versionsOf(lab, ds.id, !admin)
    const v = all.find((x) => x.id === ref) ?? all.find((x) => x.name === ref)
    if (!v) throw UUID_RE.test(ref) ? notFound(`Datastore version '${ref}' cannot be found.`) : badRequest(`Datastore version '${ref}' cannot be found.`)
    return v
  }

  app.get('/datastores/:ds/versions/:ver', async (req) => {
    const { tenant, ds, ver } = req.params as { tenant: string; ds: string; ver: string }
    const { isAdmin } = caller(req)
    return { version: versionView(req, tenant, versionByRef(ds, ver, isAdmin), { admin: isAdmin, withDatastore: true }) }
  })

  app.get('/datastores/versions/:vid', async (req) => {
    const { tenant, vid } = req.params as { tenant: string; vid: string }
    const { isAdmin } = caller(req)
    const v = lab.db.prepare('SELECT * FROM datastore_versions WHERE id = ?').get(vid) as VersionRow | undefined
    if (!v || (!isAdmin && !v.active)) throw notFound(`Datastore version '${vid}' cannot be found.`)
    return { version: versionView(req, tenant, v, { admin: isAdmin, withDatastore: true }) }
  })

  app.get('/datastores/:ds/versions/:vid/flavors', async (req) => {
    const { tenant, ds, vid } = req.params as { tenant: string; ds: string; vid: string }
    versionByRef(ds, vid, caller(req).isAdmin)
    return { flavors: listFlavors(lab).map((f) => flavorView(req, tenant, f)) }
  })

  app.get('/datastores/:ds/versions/:vid/volume-types', async (req) => {
    const { ds, vid } = req.params as { ds: string; vid: string }
    versionByRef(ds, vid, caller(req).isAdmin)
    // The lab has one kind of storage: the instance directory on the host's disk.
    return { volume_types: [{ id: 'local', name: 'local', is_public: true, description: 'Instance directory on the lab host' }] }
  })
}
