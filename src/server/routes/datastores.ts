import type { FastifyInstance } from 'fastify'
import type { Lab } from '../lab.js'
import { caller } from '../http/guard.js'
import { links, versionView, flavorView } from '../http/views.js'
import { type DatastoreRow, versionById, versionByRef, versionsOf, visibleDatastore, visibleDatastores } from '../datastores/resolve.js'
import { listFlavors } from '../flavors/find.js'

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
    return { datastores: visibleDatastores(lab, isAdmin).map((ds) => datastoreView(req, tenant, ds, isAdmin)) }
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

  app.get('/datastores/:ds/versions/:ver', async (req) => {
    const { tenant, ds, ver } = req.params as { tenant: string; ds: string; ver: string }
    const { isAdmin } = caller(req)
    return { version: versionView(req, tenant, versionByRef(lab, ds, ver, isAdmin), { admin: isAdmin, withDatastore: true }) }
  })

  app.get('/datastores/versions/:vid', async (req) => {
    const { tenant, vid } = req.params as { tenant: string; vid: string }
    const { isAdmin } = caller(req)
    return { version: versionView(req, tenant, versionById(lab, vid, isAdmin), { admin: isAdmin, withDatastore: true }) }
  })

  app.get('/datastores/:ds/versions/:vid/flavors', async (req) => {
    const { tenant, ds, vid } = req.params as { tenant: string; ds: string; vid: string }
    versionByRef(lab, ds, vid, caller(req).isAdmin)
    return { flavors: listFlavors(lab).map((f) => flavorView(req, tenant, f)) }
  })

  app.get('/datastores/:ds/versions/:vid/volume-types', async (req) => {
    const { ds, vid } = req.params as { ds: string; vid: string }
    versionByRef(lab, ds, vid, caller(req).isAdmin)
    // The lab has one kind of storage: the instance directory on the host's disk.
    return { volume_types: [{ id: 'local', name: 'local', is_public: true, description: 'Instance directory on the lab host' }] }
  })
}
