/**
 * Upstream fault bodies (api.md section 2): `{"<faultName>": {"code": N, "message": "..."}}`.
 * Route code throws a Fault; the error handler turns anything else into a 500
 * instanceFault that carries only a request id, never a stack trace.
 */
export type FaultName =
  | 'badRequest'
  | 'unauthorized'
  | 'forbidden'
  | 'itemNotFound'
  | 'notAcceptable'
  | 'conflict'
  | 'overLimit'
  | 'unprocessableEntity'
  | 'instanceFault'
  | 'serverError'
  | 'notImplemented'

const CODES: Record<FaultName, number> = {
  badRequest: 400,
  unauthorized: 401,
  forbidden: 403,
  itemNotFound: 404,
  notAcceptable: 406,
  conflict: 409,
  overLimit: 413,
  unprocessableEntity: 422,
  instanceFault: 500,
  serverError: 500,
  notImplemented: 501,
}

export class Fault extends Error {
  readonly status: number
  /** Set by guestFault when the guest failed (not when it refused bad input). */
  guestFailure = false
  constructor(
    readonly fault: FaultName,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
    this.status = CODES[fault]
  }

  body(): Record<string, { code: number; message: string }> {
    return { [this.fault]: { code: this.status, message: this.message } }
  }
}

export const badRequest = (m: string) => new Fault('badRequest', m)
export const notFound = (m: string) => new Fault('itemNotFound', m)
/** Upstream's generic "Resource X cannot be found." (NotFound, ModelNotFoundError). */
export const resourceNotFound = (id: string) => notFound(`Resource ${id} cannot be found.`)
export const unprocessable = (m: string) => new Fault('unprocessableEntity', m)
