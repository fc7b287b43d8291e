import type { FastifyReply } from 'fastify'
import { stringifyJson } from '../json-number.js'

export { JsonNumber, exactInteger, pythonFloat, stringifyJson } from '../json-number.js'

/** Sends a JSON body that may hold JsonNumbers. */
export function sendJson(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send(stringifyJson(body))
}
