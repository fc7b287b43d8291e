import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { RPC_TIMEOUT } from '../broker/rpc.js'
import type { Lab } from '../lab.js'
import { badRequest, notFound } from '../errors.js'
import { caller } from '../http/guard.js'
import { ROOT_MANAGERS, accountsCall, accountsInstance } from './guest-accounts.js'
import { loadInstance } from './instances/crud.js'

const nowIso = (): string => new Date().toISOString().slice(0, 19)

/**
 * Root of an instance (api.md 6.11, routes 33-35). GET answers from the root history
 * as upstream does (true once enabled through the API, until disabled), not from the guest.
 */
export async function rootRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  const enabled = (id: string): boolean => lab.db.prepare('SELECT 1 FROM root_enabled_history WHERE id = ? AND deleted_at IS NULL').get(id) !== undefined

  app.get('/instances/:id/root', async (req) => {
    const { id } = req.params as { id: string }
    loadInstance(lab, req, id)
    return { rootEnabled: enabled(id) }
  })

  app.post('/instances/:id/root', async (req) => {
    const { id } = req.params as { id: string }
    accountsInstance(lab, req, id, ROOT_MANAGERS)
    const body = req.body as { password?: unknown } | undefined | null
    const password = body && typeof body === 'object' ? body.password : undefined
    if (password !== undefined && password !== null && (typeof password !== 'string' || password === '')) throw badRequest('Validation error: password must be a non-empty string')
    const user =
      typeof password === 'string'
        ? await accountsCall(lab, id, 'enable_root_with_password', { root_password: password }, RPC_TIMEOUT.high)
        : await accountsCall(lab, id, 'enable_root', {}, RPC_TIMEOUT.high)
    lab.db
      .prepare(
        'INSERT INTO root_enabled_history (id, user, created, deleted_at) VALUES (?, ?, ?, NULL) ON CONFLICT(id) DO UPDATE SET user = excluded.user, created = excluded.created, deleted_at = NULL',
      )
      .run(id, caller(req).ctx.user.id, nowIso())
    return { user: { name: user.name, password: user.password } }
  })

  const disable = async (req: FastifyRequest, reply: FastifyReply) => {
    const { id } = req.params as { id: string }
    accountsInstance(lab, req, id, ROOT_MANAGERS)
    if (lab.db.prepare('SELECT 1 FROM root_enabled_history WHERE id = ?').get(id) === undefined) throw notFound('Root user has never been enabled on the instance.')
    await accountsCall(lab, id, 'disable_root', {}, RPC_TIMEOUT.low)
    lab.db.prepare('UPDATE root_enabled_history SET deleted_at = ? WHERE id = ?').run(nowIso(), id)
    return reply.code(204).send()
  }
  app.delete('/instances/:id/root', disable)
  app.delete('/instances/:id/root/delete', disable)
}
