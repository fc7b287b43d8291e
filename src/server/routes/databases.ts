import type { FastifyInstance } from 'fastify'
import { RPC_TIMEOUT } from '../broker/rpc.js'
import type { Lab } from '../lab.js'
import { caller } from '../http/guard.js'
import { Fault, badRequest } from '../errors.js'
import { accountsCall, accountsInstance, checkDatabaseName } from '../instances/accounts.js'
import { pageBody, pageQuery } from '../http/paging.js'
import { loadInstance } from '../instances/load.js'
import { compileBodySchema, nonEmptyString } from '../http/validation.js'

/** Upstream's database create schema (apischema.py). */
const checkCreate = compileBodySchema({
  type: 'object',
  required: ['databases'],
  properties: {
    databases: {
      type: 'array',
      minItems: 1,
      items: { type: 'object', required: ['name'], properties: { name: nonEmptyString, character_set: nonEmptyString, collate: nonEmptyString } },
    },
  },
})

type Db = { name: string; character_set?: string; collate?: string }

/** Databases of an instance (api.md 6.8, routes 20-23), answered by the guest synchronously. */
export async function databaseRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  app.get('/instances/:id/databases', async (req) => {
    const { id } = req.params as { id: string }
    accountsInstance(lab, caller(req), id)
    const { limit, marker } = pageQuery(lab, req)
    const [dbs, next] = await accountsCall(lab, id, 'list_databases', { limit, marker, include_marker: false })
    return pageBody(
      req,
      'databases',
      dbs.map((d) => ({ name: d.name })),
      limit,
      next,
    )
  })

  app.post('/instances/:id/databases', async (req, reply) => {
    const { id } = req.params as { id: string }
    const inst = accountsInstance(lab, caller(req), id)
    checkCreate(req.body)
    const dbs = (req.body as { databases: Db[] }).databases
    // dbaas.database_create (upstream joins the names with "."); .end once the guest has created them.
    await lab.notifications.action(req, 'database_create', id, { instance_id: id, dbname: dbs.map((d) => d.name).join('.') }, async () => {
      const names = new Set<string>()
      for (const d of dbs) {
        checkDatabaseName(inst.dsv_manager!, d.name)
        if (names.has(d.name)) throw badRequest('Two or more databases have the same name.')
        names.add(d.name)
      }
      // Upstream asks the guest for a page starting at each name (Schemas.create).
      for (const d of dbs) {
        const [found] = await accountsCall(lab, id, 'list_databases', { limit: 1, marker: d.name, include_marker: true })
        if (found[0]?.name === d.name) throw badRequest(`A database with the name "${d.name}" already exists.`)
      }
      const payload = dbs.map((d) => ({ name: d.name, ...(d.character_set ? { character_set: d.character_set } : {}), ...(d.collate ? { collate: d.collate } : {}) }))
      // Upstream casts; a synchronous call lets a client see the database right after the 202.
      await accountsCall(lab, id, 'create_database', { databases: payload }, RPC_TIMEOUT.high)
    })
    return reply.code(202).send()
  })

  // Upstream's SchemaController has no show: 501 for any caller who may see the instance.
  app.get('/instances/:id/databases/:name', async (req) => {
    const { id } = req.params as { id: string }
    loadInstance(lab, caller(req), id)
    throw new Fault('notImplemented', 'The server has either erred or is incapable of performing the requested operation.')
  })

  app.delete('/instances/:id/databases/:name', async (req, reply) => {
    const { id, name } = req.params as { id: string; name: string }
    const inst = accountsInstance(lab, caller(req), id)
    await lab.notifications.action(req, 'database_delete', id, { instance_id: id, dbname: name }, async () => {
      checkDatabaseName(inst.dsv_manager!, name)
      await accountsCall(lab, id, 'delete_database', { database: { name } }, RPC_TIMEOUT.high)
    })
    return reply.code(202).send()
  })
}
