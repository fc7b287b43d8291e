import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Lab } from '../lab.js'
import { caller } from '../http/guard.js'
import { disableRoot, enableRoot, rootEnabled } from '../instances/root.js'

/** Root of an instance (api.md 6.11, routes 33-35): see instances/root.ts. */
export async function rootRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  app.get('/instances/:id/root', async (req) => {
    const { id } = req.params as { id: string }
    return { rootEnabled: rootEnabled(lab, caller(req), id) }
  })

  app.post('/instances/:id/root', async (req) => {
    const { id } = req.params as { id: string }
    const who = caller(req)
    const body = req.body as { password?: unknown } | undefined | null
    const password = body && typeof body === 'object' ? body.password : undefined
    const user = await enableRoot(lab, who, id, who.ctx.user.id, password)
    return { user: { name: user.name, password: user.password } }
  })

  const disable = async (req: FastifyRequest, reply: FastifyReply) => {
    const { id } = req.params as { id: string }
    await disableRoot(lab, caller(req), id)
    return reply.code(204).send()
  }
  app.delete('/instances/:id/root', disable)
  app.delete('/instances/:id/root/delete', disable)
}
