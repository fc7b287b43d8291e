import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Lab } from '../lab.js'
import { configurationStore, type ParameterRow, type ParameterSpec } from '../db/configurations.js'
import { PARAMETER_TYPES } from '../configurations/rules.js'
import { requireAdmin } from '../http/guard.js'
import { badRequest, resourceNotFound } from '../errors.js'
import { compileBodySchema } from '../http/validation.js'
import { type VersionRow, activeVersionOf, versionById as versionByIdAny } from '../datastores/resolve.js'
import { exactInteger, sendJson, type JsonNumber } from '../http/json-literal.js'

const integerLike = { oneOf: [{ type: 'integer' }, { type: 'string', pattern: '^-?[0-9]+$' }] }

/**
 * Upstream's mgmt_configuration schema, with two fixes. Its data_type pattern is
 * "integer|string" (so boolean and float parameters, which the shipped rules are
 * full of, cannot be registered); here it is one of the four types. And its bounds
 * are declared as `min`/`max` while the controller reads `min_size`/`max_size`
 * (api.md 11), whose int() fails with a 500 on anything else; here the
 * controller's names are checked.
 */
const checkParameter = compileBodySchema({
  type: 'object',
  required: ['configuration-parameter'],
  properties: {
    'configuration-parameter': {
      type: 'object',
      required: ['name', 'restart_required', 'data_type'],
      properties: {
        name: { type: 'string', minLength: 1, maxLength: 128 },
        data_type: { enum: [...PARAMETER_TYPES] },
        restart_required: { type: 'integer', minimum: 0, maximum: 1 },
        max_size: integerLike,
        min_size: integerLike,
      },
    },
  },
})

interface ParameterBody {
  'configuration-parameter': { name: string; data_type: string; restart_required: number; max_size?: number | string; min_size?: number | string }
}

function bound(text: string | null): number | JsonNumber | undefined {
  // Omitted when null or 0, as upstream's `if max_size:` does.
  if (text === null || Number(text) === 0) return undefined
  return /^-?\d+$/.test(text) ? exactInteger(text) : Number(text)
}

/** Param (api.md 6.15), in upstream's key order (transcript 8-9). */
function parameterView(p: ParameterRow) {
  return { name: p.name, datastore_version_id: p.datastore_version_id, restart_required: p.restart_required === 1, type: p.data_type, max: bound(p.max_size), min: bound(p.min_size) }
}

/** MgmtParam (api.md 7.7): the same with max_size/min_size. */
function mgmtParameterView(p: ParameterRow) {
  return { name: p.name, datastore_version_id: p.datastore_version_id, restart_required: p.restart_required === 1, type: p.data_type, max_size: bound(p.max_size), min_size: bound(p.min_size) }
}

/** The controller's checks of a parameter body (upstream's _validate_data_type). */
function specOf(name: string, body: ParameterBody['configuration-parameter']): ParameterSpec {
  const { data_type: type } = body
  let max: string | null = null
  let min: string | null = null
  if (type === 'integer') {
    if (body.max_size === undefined) throw badRequest('max_size is required for integer data type.')
    if (body.min_size === undefined) throw badRequest('min_size is required for integer data type.')
  }
  // Bounds mean something for numbers only; upstream drops them for every non-integer
  // type, which leaves the shipped float rules' minimums unenforceable.
  if (type === 'integer' || type === 'float') {
    max = body.max_size === undefined ? null : BigInt(body.max_size).toString()
    min = body.min_size === undefined ? null : BigInt(body.min_size).toString()
    if (max !== null && min !== null && BigInt(max) < BigInt(min)) throw badRequest('max_size must be greater than or equal to min_size.')
  }
  return { name, restart_required: body.restart_required === 1, data_type: type, max_size: max, min_size: min }
}

/** Routes 52-55 (api.md 6.15) and the admin routes 98-102 (api.md 7.7). */
export async function parameterRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  const { parameters } = configurationStore(lab.db)

  const versionById = (vid: string): VersionRow => versionByIdAny(lab, vid, true)
  const versionOf = (dsRef: string, ref: string): VersionRow => activeVersionOf(lab, dsRef, ref)

  const list = (v: VersionRow) => ({ 'configuration-parameters': parameters.list(v.id).map(parameterView) })
  const show = (v: VersionRow, name: string) => {
    const p = parameters.get(v.id, name)
    if (!p) throw resourceNotFound(name)
    return parameterView(p)
  }
  type P = { ds: string; ver: string; vid: string; name: string }
  const params = (req: FastifyRequest) => req.params as P

  app.get('/datastores/:ds/versions/:ver/parameters', async (req, reply) => {
    return sendJson(reply, 200, list(versionOf(params(req).ds, params(req).ver)))
  })
  app.get('/datastores/:ds/versions/:ver/parameters/:name', async (req, reply) => {
    return sendJson(reply, 200, show(versionOf(params(req).ds, params(req).ver), params(req).name))
  })
  app.get('/datastores/versions/:vid/parameters', async (req, reply) => {
    return sendJson(reply, 200, list(versionById(params(req).vid)))
  })
  app.get('/datastores/versions/:vid/parameters/:name', async (req, reply) => {
    return sendJson(reply, 200, show(versionById(params(req).vid), params(req).name))
  })

  // Admin routes: admin_context (401 for members) before anything else, so that a
  // member learns nothing about the body or the version.
  const MGMT = '/mgmt/datastores/versions/:vid/parameters'

  // Upstream also lists (and shows) deleted parameters here, without saying they
  // are deleted; only live ones are shown.
  app.get(MGMT, async (req, reply) => {
    requireAdmin(req)
    const v = versionById(params(req).vid)
    return sendJson(reply, 200, { 'configuration-parameters': parameters.list(v.id).map(mgmtParameterView) })
  })

  app.get(`${MGMT}/:name`, async (req, reply) => {
    requireAdmin(req)
    const v = versionById(params(req).vid)
    const p = parameters.get(v.id, params(req).name)
    if (!p) throw resourceNotFound(params(req).name)
    return sendJson(reply, 200, mgmtParameterView(p))
  })

  app.post(MGMT, async (req, reply) => {
    requireAdmin(req)
    checkParameter(req.body)
    const body = (req.body as ParameterBody)['configuration-parameter']
    const spec = specOf(body.name, body)
    const v = versionById(params(req).vid)
    const p = parameters.create(v.id, spec)
    if (p === 'exists') throw badRequest(`${spec.name} parameter already exists for datastore version ${v.id}.`)
    return sendJson(reply, 200, mgmtParameterView(p))
  })

  // The parameter is the one in the path; the body's name is required but not used (upstream).
  app.put(`${MGMT}/:name`, async (req, reply) => {
    requireAdmin(req)
    checkParameter(req.body)
    const spec = specOf(params(req).name, (req.body as ParameterBody)['configuration-parameter'])
    const v = versionById(params(req).vid)
    const p = parameters.update(v.id, spec)
    if (!p) throw resourceNotFound(params(req).name)
    return sendJson(reply, 200, mgmtParameterView(p))
  })

  app.delete(`${MGMT}/:name`, async (req, reply) => {
    requireAdmin(req)
    const { vid, name } = params(req)
    if (!parameters.delete(vid, name)) throw badRequest(`Parameter ${name} does not exist in the database.`)
    return reply.code(204).send()
  })
}
