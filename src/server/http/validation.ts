import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import { badRequest } from '../errors.js'
import { pyRepr } from '../py-repr.js'

export { pyRepr }

/**
 * Request schemas are enforced before a route runs, as upstream's apischema.py is.
 * Messages reproduce Python jsonschema's wording, because clients and tests match
 * them: "Validation error: instance['name'] 'x...' is too long".
 */
const ajv = new Ajv({ allErrors: false, strict: false })

/** Upstream's volume_size: a positive integer, or its decimal text. */
export const volumeSize = {
  oneOf: [
    { type: 'integer', minimum: 1 },
    { type: 'string', pattern: '^[0-9]+$' },
  ],
} as const

/** Upstream's non_empty_string. */
export const nonEmptyString = { type: 'string', minLength: 1, maxLength: 255, pattern: '^.*[0-9a-zA-Z]+.*$' } as const
export const uuid = { type: 'string', pattern: '^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$' } as const

/** jsonschema's error path: the first segment bare, the rest as Python subscripts. */
function pathOf(instancePath: string): string {
  const segs = instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
  if (segs.length === 0) return ''
  return (
    segs[0] +
    segs
      .slice(1)
      .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `['${p}']`))
      .join('')
  )
}

function valueAt(data: unknown, instancePath: string): unknown {
  let cur = data
  for (const raw of instancePath.split('/').slice(1)) {
    const p = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[p] : undefined
  }
  return cur
}

function message(e: ErrorObject, value: unknown): string {
  const p = e.params as Record<string, unknown>
  switch (e.keyword) {
    case 'required':
      return `'${String(p.missingProperty)}' is a required property`
    case 'maxLength':
      return `${pyRepr(value)} is too long`
    case 'minLength':
      return `${pyRepr(value)} is too short`
    case 'maxItems':
      return `${pyRepr(value)} is too long`
    case 'minItems':
      return `${pyRepr(value)} is too short`
    case 'pattern':
      return `${pyRepr(value)} does not match '${String(p.pattern)}'`
    case 'type':
      return `${pyRepr(value)} is not of type ${String(p.type)
        .split(',')
        .map((t) => `'${t === 'object' ? 'object' : t}'`)
        .join(', ')}`
    case 'additionalProperties':
      return `Additional properties are not allowed ('${String(p.additionalProperty)}' was unexpected)`
    case 'minimum':
      return `${pyRepr(value)} is less than the minimum of ${String(p.limit)}`
    case 'maximum':
      return `${pyRepr(value)} is greater than the maximum of ${String(p.limit)}`
    case 'enum':
      return `${pyRepr(value)} is not one of ${pyRepr(p.allowedValues)}`
    case 'oneOf':
    case 'anyOf':
      return `${pyRepr(value)} is not valid under any of the given schemas`
    case 'uniqueItems':
      return `${pyRepr(value)} has non-unique elements`
    default:
      return `${pyRepr(value)} ${e.message ?? 'is invalid'}`
  }
}

/**
 * Compiles a schema for a body wrapped in `{root: {...}}` and returns a checker that
 * throws the upstream 400 on the first error. The schema is compiled at the checker's first
 * call, not here: the route modules declare ~40 checkers when they load, and compiling them
 * all was ~0.3 s of CPU at every server start (more under coverage), mostly for routes the
 * process never serves. A schema ajv refuses throws at its first request, in every test of it.
 */
export function compileBodySchema(schema: object): (body: unknown) => void {
  let compiled: ValidateFunction | undefined
  return (body: unknown) => {
    compiled ??= ajv.compile(schema)
    const validate = compiled
    if (validate(body)) return
    const errors = validate.errors ?? []
    // ajv lists the failing branches of a oneOf before the oneOf itself; jsonschema reports the oneOf.
    const e = errors.find((x) => (x.keyword === 'oneOf' || x.keyword === 'anyOf') && errors[0].instancePath.startsWith(x.instancePath)) ?? errors[0]
    if (!e) throw badRequest('Validation error: invalid request body')
    const path = pathOf(e.instancePath)
    const where = path ? `${path} ` : ''
    throw badRequest(`Validation error: ${where}${message(e, valueAt(body, e.instancePath))}`)
  }
}
