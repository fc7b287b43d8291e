import type { FastifyReply } from 'fastify'

/** Keystone's error body; keystonemiddleware answers the v1.0 API with it too. */
export function keystoneError(reply: FastifyReply, code: number, title: string, message: string): FastifyReply {
  return reply.code(code).send({ error: { code, title, message } })
}

export function unauthorized(reply: FastifyReply): FastifyReply {
  return keystoneError(reply, 401, 'Unauthorized', 'The request you have made requires authentication.')
}
