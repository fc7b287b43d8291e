import type { FastifyInstance } from 'fastify'
import type { Lab } from '../lab.js'
import { requireAdmin } from '../http/guard.js'
import { authorizeAdminRule } from '../http/policy.js'
import { compileBodySchema, nonEmptyString, uuid } from '../http/validation.js'
import { type MgmtVersionRow, type VersionChanges, type VersionFields, createVersion, deleteDatastore, deleteVersion, listMgmtVersions, loadMgmtVersion, updateVersion } from '../datastores/admin.js'

/** Upstream's image_tags and package_list schemas (apischema.py). */
const imageTags = { type: 'array', maxItems: 5, uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: 20 } } as const
const packageList = { type: 'array', uniqueItems: true, items: nonEmptyString } as const
const bool = { enum: [true, false] } as const

const checkCreate = compileBodySchema({
  type: 'object',
  required: ['version'],
  properties: {
    version: {
      type: 'object',
      required: ['name', 'datastore_name', 'datastore_manager', 'active'],
      additionalProperties: false,
      properties: {
        name: nonEmptyString,
        datastore_name: nonEmptyString,
        datastore_manager: nonEmptyString,
        packages: packageList,
        image: uuid,
        image_tags: imageTags,
        registry_ext: nonEmptyString,
        repl_strategy: nonEmptyString,
        active: bool,
        default: bool,
        version: nonEmptyString,
      },
    },
  },
})

/** PATCH bodies are not wrapped, and the version number cannot change (upstream). */
const checkEdit = compileBodySchema({
  type: 'object',
  additionalProperties: false,
  properties: {
    name: nonEmptyString,
    datastore_manager: nonEmptyString,
    packages: packageList,
    image: uuid,
    image_tags: imageTags,
    registry_ext: nonEmptyString,
    repl_strategy: nonEmptyString,
    active: bool,
    default: bool,
  },
})

/** MgmtVersion (api.md 7.6): lists come back as [""] when empty, as upstream's split does. */
function mgmtVersionView(v: MgmtVersionRow) {
  return {
    id: v.id,
    name: v.name,
    version: v.version,
    datastore_id: v.datastore_id,
    datastore_name: v.datastore_name,
    datastore_manager: v.manager,
    image: v.image_id,
    image_tags: v.image_tags ? v.image_tags.split(',') : [''],
    packages: v.packages ? v.packages.split(',') : [''],
    active: v.active === 1,
    registry_ext: v.registry_ext,
    repl_strategy: v.repl_strategy,
    default: v.default_version_id === v.id,
  }
}

/** Routes 93-97 (api.md 7.6, admin_context: 401 for members) and 58, `DELETE /datastores/{ds}` (policy: 403). */
export async function datastoreAdminRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  app.get('/mgmt/datastore-versions', async (req) => {
    requireAdmin(req)
    return { versions: listMgmtVersions(lab).map(mgmtVersionView) }
  })

  app.get('/mgmt/datastore-versions/:id', async (req) => {
    requireAdmin(req)
    return { version: mgmtVersionView(loadMgmtVersion(lab, (req.params as { id: string }).id)) }
  })

  app.post('/mgmt/datastore-versions', async (req, reply) => {
    requireAdmin(req)
    checkCreate(req.body)
    createVersion(lab, (req.body as { version: VersionFields }).version)
    return reply.code(202).send()
  })

  app.patch('/mgmt/datastore-versions/:id', async (req, reply) => {
    requireAdmin(req)
    const { id } = req.params as { id: string }
    checkEdit(req.body)
    updateVersion(lab, id, req.body as VersionChanges)
    return reply.code(202).send()
  })

  app.delete('/mgmt/datastore-versions/:id', async (req, reply) => {
    requireAdmin(req)
    deleteVersion(lab, (req.params as { id: string }).id)
    return reply.code(202).send()
  })

  app.delete('/datastores/:ds', async (req, reply) => {
    authorizeAdminRule(req, 'datastore:delete')
    deleteDatastore(lab, (req.params as { ds: string }).ds)
    return reply.code(202).send()
  })
}
