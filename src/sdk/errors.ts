/**
 * One error hierarchy (CONVENTIONS 9). Every failure the SDK raises is a TroveError;
 * an HTTP error is an APIError carrying the status, the upstream fault name
 * (`itemNotFound`, `badRequest`, ...), the server's message and its request id.
 */
export class TroveError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
  }
}

/** The server answered with a status >= 400. */
export class APIError extends TroveError {
  /** HTTP status code. */
  readonly status: number
  /** The fault name of the upstream body, e.g. `itemNotFound`; `error` for Keystone bodies; undefined when the body had none. */
  readonly fault: string | undefined
  /** x-openstack-request-id (or x-compute-request-id) of the response. */
  readonly requestId: string | undefined
  /** The parsed response body, if it was JSON. */
  readonly body: unknown
  /** Seconds to wait, from a Retry-After header. */
  readonly retryAfter: number | undefined
  /** The answer came from a trove lab (`trove server`), which marks its answers with X-Trove-Lab. */
  readonly lab: boolean

  constructor(status: number, message: string, o: { fault?: string; requestId?: string; body?: unknown; retryAfter?: number; lab?: boolean } = {}) {
    super(message)
    this.status = status
    this.fault = o.fault
    this.requestId = o.requestId
    this.body = o.body
    this.retryAfter = o.retryAfter
    this.lab = o.lab ?? false
  }
}

/** 400 badRequest: the request was invalid. */
export class BadRequestError extends APIError {}
/** 401: missing, invalid or expired credentials (or upstream's `unauthorized` fault). */
export class UnauthorizedError extends APIError {}
/** 403 forbidden: policy or project check refused the request. */
export class ForbiddenError extends APIError {}
/** 404 itemNotFound. */
export class NotFoundError extends APIError {}
/** 409 conflict. */
export class ConflictError extends APIError {}
/** 413 overLimit: quota exceeded or rate limited (then `retryAfter` is set). */
export class OverLimitError extends APIError {}
/** 422 unprocessableEntity: the resource is not in a state that allows the action. */
export class UnprocessableEntityError extends APIError {}
/** 429: rate limited. */
export class RateLimitError extends APIError {}
/** 5xx. */
export class InternalServerError extends APIError {}
/** 501 notImplemented. */
export class NotImplementedError extends APIError {}

/** The server could not be reached (refused, reset, DNS). */
export class APIConnectionError extends TroveError {
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    super(`Unable to establish connection to ${url}: ${(cause as Error)?.message ?? String(cause)}`, { cause })
  }
}

/** No response within the timeout. */
export class APITimeoutError extends TroveError {
  constructor(
    readonly url: string,
    readonly timeoutMs: number,
  ) {
    super(`Request to ${url} timed out after ${timeoutMs} ms`)
  }
}

/** The catalog has no usable endpoint for the service. */
export class EndpointNotFoundError extends TroveError {}

/** A wait ended because the resource reached an error state. */
export class WaitFailedError extends TroveError {
  constructor(
    message: string,
    readonly resource: unknown,
  ) {
    super(message)
  }
}

/** A wait ran out of time. */
export class WaitTimeoutError extends TroveError {
  constructor(
    message: string,
    readonly resource: unknown,
  ) {
    super(message)
  }
}

const BY_STATUS: Record<number, typeof APIError> = {
  400: BadRequestError,
  401: UnauthorizedError,
  403: ForbiddenError,
  404: NotFoundError,
  409: ConflictError,
  413: OverLimitError,
  422: UnprocessableEntityError,
  429: RateLimitError,
  501: NotImplementedError,
}

const DEFAULT_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Request Entity Too Large',
  422: 'Unprocessable Entity',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}

/**
 * The one factory from a response to an error: the message is the body's top-level
 * `message`, else the `message` of its first value (Trove's `{"itemNotFound": {...}}`
 * and Keystone's `{"error": {...}}`), else a default text for the status.
 */
export function makeAPIError(status: number, body: unknown, headers: Record<string, string | string[] | undefined>): APIError {
  let message: string | undefined
  let fault: string | undefined
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    const b = body as Record<string, unknown>
    if (typeof b.message === 'string') message = b.message
    else {
      const [k, v] = Object.entries(b)[0] ?? []
      if (k && v !== null && typeof v === 'object' && typeof (v as Record<string, unknown>).message === 'string') {
        fault = k
        message = (v as { message: string }).message
      }
    }
  }
  message ??= DEFAULT_TEXT[status] ?? (status >= 500 ? 'HTTP Server Error' : 'HTTP Client Error')
  const h = (n: string) => {
    const v = headers[n]
    return Array.isArray(v) ? v[0] : v
  }
  const retry = Number(h('retry-after'))
  const Cls = BY_STATUS[status] ?? (status >= 500 ? InternalServerError : APIError)
  return new Cls(status, message, {
    fault,
    body,
    requestId: h('x-openstack-request-id') ?? h('x-compute-request-id'),
    retryAfter: Number.isFinite(retry) && h('retry-after') !== undefined ? retry : undefined,
    lab: h('x-trove-lab') !== undefined,
  })
}
