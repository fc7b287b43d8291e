import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { RPC_TIMEOUT } from '../broker/rpc.js'
import type { InstanceJoined } from '../db/instances.js'
import type { Lab } from '../lab.js'
import { caller } from '../http/guard.js'
import { badRequest, notFound } from '../errors.js'
import { accountsCall, accountsInstance, checkDatabaseName, checkUserName, parseUserId } from '../instances/accounts.js'
import { pageBody, pageQuery } from '../http/paging.js'
import { compileBodySchema, nonEmptyString } from '../http/validation.js'

interface UserView {
  name: string
  host: string
  databases: Array<{ name: string }>
}

const host = { type: 'string', pattern: '^[%]?[\\w(-).]*[%]?$' } as const
const databasesRef = { type: 'array', items: { type: 'object', required: ['name'], properties: { name: nonEmptyString } } } as const

/** Upstream's user schemas (apischema.py). */
const checkCreate = compileBodySchema({
  type: 'object',
  required: ['users'],
  properties: {
    users: {
      type: 'array',
      minItems: 1,
      items: { type: 'object', required: ['name', 'password'], properties: { name: nonEmptyString, password: nonEmptyString, host, databases: databasesRef } },
    },
  },
})
const checkPasswords = compileBodySchema({
  type: 'object',
  required: ['users'],
  properties: {
    users: { type: 'array', items: { type: 'object', required: ['name', 'password'], properties: { name: nonEmptyString, password: nonEmptyString, host } } },
  },
})
const checkUpdate = compileBodySchema({
  type: 'object',
  required: ['user'],
  properties: { user: { type: 'object', minProperties: 1, properties: { name: nonEmptyString, password: nonEmptyString, host } } },
})

const userNotFound = (name: string) => notFound(`User ${name} cannot be found on the instance.`)
const view = (u: UserView): UserView => ({ name: u.name, host: u.host, databases: u.databases.map((d) => ({ name: d.name })) })

/** Users of an instance and their access (api.md 6.9/6.10, routes 24-32), answered by the guest synchronously. */
export async function userRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  /** The path's user on the caller's ready instance; 404 when it does not exist (or is a hidden one). */
  const pathUser = async (req: FastifyRequest): Promise<{ id: string; inst: InstanceJoined; user: UserView }> => {
    const { id, user } = req.params as { id: string; user: string }
    const inst = accountsInstance(lab, caller(req), id)
    const { name, host: h } = parseUserId(user)
    try {
      checkUserName(inst.dsv_manager!, name, h)
    } catch {
      throw userNotFound(name)
    }
    const found = await accountsCall(lab, id, 'get_user', { username: name, hostname: h })
    if (!found) throw userNotFound(name)
    return { id, inst, user: found }
  }

  app.get('/instances/:id/users', async (req) => {
    const { id } = req.params as { id: string }
    accountsInstance(lab, caller(req), id)
    const { limit, marker } = pageQuery(lab, req)
    const [users, next] = await accountsCall(lab, id, 'list_users', { limit, marker, include_marker: false }, RPC_TIMEOUT.high)
    return pageBody(req, 'users', users.map(view), limit, next)
  })

  app.post('/instances/:id/users', async (req, reply) => {
    const { id } = req.params as { id: string }
    const inst = accountsInstance(lab, caller(req), id)
    checkCreate(req.body)
    const users = (req.body as { users: Array<{ name: string; password: string; host?: string; databases?: Array<{ name: string }> }> }).users
    // dbaas.user_create (names joined with ","; never the passwords).
    await lab.notifications.action(req, 'user_create', id, { instance_id: id, username: users.map((u) => u.name).join(',') }, async () => {
      const seen = new Set<string>()
      for (const u of users) {
        checkUserName(inst.dsv_manager!, u.name, u.host)
        for (const d of u.databases ?? []) checkDatabaseName(inst.dsv_manager!, d.name)
        const key = `${u.name}@${u.host ?? '%'}`
        if (seen.has(key)) throw badRequest('Two or more users have the same name and host.')
        seen.add(key)
      }
      for (const u of users) {
        if (await accountsCall(lab, id, 'get_user', { username: u.name, hostname: u.host ?? '%' })) throw badRequest(`A user with the name "${u.name}" already exists.`)
      }
      const payload = users.map((u) => ({ name: u.name, password: u.password, host: u.host ?? '%', databases: (u.databases ?? []).map((d) => ({ name: d.name })) }))
      await accountsCall(lab, id, 'create_user', { users: payload }, RPC_TIMEOUT.high)
    })
    return reply.code(202).send()
  })

  const changePasswords = async (req: FastifyRequest, reply: FastifyReply) => {
    const { id } = req.params as { id: string }
    const inst = accountsInstance(lab, caller(req), id)
    checkPasswords(req.body)
    const users = (req.body as { users: Array<{ name: string; password: string; host?: string }> }).users
    await lab.notifications.action(req, 'user_change_password', id, { instance_id: id, username: users.map((u) => u.name).join(',') }, async () => {
      for (const u of users) {
        try {
          checkUserName(inst.dsv_manager!, u.name, u.host)
        } catch {
          throw userNotFound(u.name)
        }
        if (!(await accountsCall(lab, id, 'get_user', { username: u.name, hostname: u.host ?? '%' }))) throw userNotFound(u.name)
      }
      await accountsCall(lab, id, 'change_passwords', { users: users.map((u) => ({ name: u.name, host: u.host ?? '%', password: u.password })) }, RPC_TIMEOUT.high)
    })
    return reply.code(202).send()
  }
  app.put('/instances/:id/users', changePasswords)
  app.put('/instances/:id/users/update_all', changePasswords)

  app.get('/instances/:id/users/:user', async (req) => ({ user: view((await pathUser(req)).user) }))

  const update = async (req: FastifyRequest, reply: FastifyReply) => {
    const params = req.params as { id: string; user: string }
    accountsInstance(lab, caller(req), params.id)
    checkUpdate(req.body)
    await lab.notifications.action(req, 'user_update_attributes', params.id, { instance_id: params.id, username: parseUserId(params.user).name }, async () => {
      const { id, inst, user } = await pathUser(req)
      const attrs = (req.body as { user: { name?: string; password?: string; host?: string } }).user
      const name = attrs.name ?? user.name
      const h = attrs.host ?? user.host
      if (name !== user.name || h !== user.host) {
        checkUserName(inst.dsv_manager!, name, h)
        if (await accountsCall(lab, id, 'get_user', { username: name, hostname: h })) throw badRequest(`A user with the name "${name}" already exists.`)
      }
      await accountsCall(lab, id, 'update_attributes', { username: user.name, hostname: user.host, user_attrs: attrs }, RPC_TIMEOUT.high)
    })
    return reply.code(202).send()
  }
  app.put('/instances/:id/users/:user', update)
  app.put('/instances/:id/users/:user/update', update)

  app.delete('/instances/:id/users/:user', async (req, reply) => {
    const params = req.params as { id: string; user: string }
    accountsInstance(lab, caller(req), params.id)
    await lab.notifications.action(req, 'user_delete', params.id, { instance_id: params.id, username: parseUserId(params.user).name }, async () => {
      const { id, user } = await pathUser(req)
      await accountsCall(lab, id, 'delete_user', { user: { name: user.name, host: user.host } }, RPC_TIMEOUT.high)
    })
    return reply.code(202).send()
  })

  app.get('/instances/:id/users/:user/databases', async (req) => {
    const { id, user } = await pathUser(req)
    const dbs = await accountsCall(lab, id, 'list_access', { username: user.name, hostname: user.host })
    return { databases: dbs.map((d) => ({ name: d.name })) }
  })

  // Not schema-checked upstream; a body without a databases list is still a 400 here, not a 500.
  const grant = async (req: FastifyRequest, reply: FastifyReply) => {
    const { id, inst, user } = await pathUser(req)
    const dbs = (req.body as { databases?: unknown } | undefined)?.databases
    if (!Array.isArray(dbs) || dbs.some((d) => typeof (d as { name?: unknown })?.name !== 'string')) throw badRequest("Validation error: 'databases' is a required property")
    const names = (dbs as Array<{ name: string }>).map((d) => d.name)
    await lab.notifications.action(req, 'user_grant', id, { instance_id: id, username: user.name, database: names }, async () => {
      for (const n of names) checkDatabaseName(inst.dsv_manager!, n)
      await accountsCall(lab, id, 'grant_access', { username: user.name, hostname: user.host, databases: names })
    })
    return reply.code(202).send()
  }
  app.put('/instances/:id/users/:user/databases', grant)
  app.put('/instances/:id/users/:user/databases/update', grant)

  app.delete('/instances/:id/users/:user/databases/:db', async (req, reply) => {
    const { id, user } = await pathUser(req)
    const { db } = req.params as { db: string }
    // Upstream's database trait is the user's databases before the revoke.
    await lab.notifications.action(req, 'user_revoke', id, { instance_id: id, username: user.name, database: user.databases.map((d) => d.name) }, async () => {
      if (!user.databases.some((d) => d.name === db)) throw notFound(`Database ${db} cannot be found on the instance.`)
      await accountsCall(lab, id, 'revoke_access', { username: user.name, hostname: user.host, database: db })
    })
    return reply.code(202).send()
  })
}
