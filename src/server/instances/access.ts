import { badRequest } from '../errors.js'

/** An instance's `access` in create and update bodies (the JSON schema the routes check). */
export const accessSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { is_public: { type: 'boolean' }, allowed_cidrs: { type: 'array', uniqueItems: true, items: { type: 'string' } } },
} as const

export interface AccessBody {
  is_public?: boolean
  allowed_cidrs?: string[]
}

const CIDR_RE = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/(3[0-2]|[12]?\d)$/

/** Every allowed_cidrs entry an IPv4 CIDR (upstream's 'cidr' format), else 400. */
export function checkCidrs(access: AccessBody | undefined): void {
  for (const c of access?.allowed_cidrs ?? []) if (!CIDR_RE.test(c)) throw badRequest(`Validation error: instance['access']['allowed_cidrs'] '${c}' is not a 'cidr'`)
}

/** The stored form of an access body (instances.access). */
export function accessJson(access: AccessBody): string {
  return JSON.stringify({ is_public: access.is_public ?? false, allowed_cidrs: access.allowed_cidrs ?? [] })
}
