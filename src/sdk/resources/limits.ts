import type { Transport } from '../transport.js'

/** The absolute limits (first element of `GET /limits`). */
export interface AbsoluteLimits {
  verb: 'ABSOLUTE'
  max_instances?: number
  max_backups?: number
  max_volumes?: number
  max_ram?: number
  [key: string]: unknown
}

/** A rate limit (the other elements of `GET /limits`). */
export interface RateLimit {
  verb: string
  value: number
  remaining: number
  unit: string
  regex?: string
  uri?: string
  'next-available'?: string
  [key: string]: unknown
}

/** Limits of the caller's project: `/limits`. */
export class Limits {
  constructor(private readonly client: Transport) {}

  /** GET /limits: the absolute limits first, then the rate limits. */
  async list(): Promise<[AbsoluteLimits, ...RateLimit[]]> {
    return (await this.client.request<{ limits: [AbsoluteLimits, ...RateLimit[]] }>('GET', '/limits')).body.limits
  }
}
