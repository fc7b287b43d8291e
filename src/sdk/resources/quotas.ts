import type { Transport } from '../transport.js'

/** One resource's quota and usage. */
export interface QuotaUsage {
  resource: string
  in_use: number
  reserved: number
  limit: number
}

const enc = encodeURIComponent

/** Project quotas (admin): `/mgmt/quotas/{project}`. */
export class Quotas {
  constructor(private readonly client: Transport) {}

  /** GET /mgmt/quotas/{project}. */
  async show(projectId: string): Promise<QuotaUsage[]> {
    return (await this.client.request<{ quotas: QuotaUsage[] }>('GET', `/mgmt/quotas/${enc(projectId)}`)).body.quotas
  }

  /** PUT /mgmt/quotas/{project} `{"quotas": {resource: limit}}`: the updated limits. */
  async update(projectId: string, limits: Record<string, number>): Promise<Record<string, number>> {
    return (await this.client.request<{ quotas: Record<string, number> }>('PUT', `/mgmt/quotas/${enc(projectId)}`, { body: { quotas: limits } })).body.quotas
  }
}
