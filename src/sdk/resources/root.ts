import type { Transport } from '../transport.js'

/** The root user's credentials returned by enable. */
export interface RootUser {
  name: string
  password: string
}

/** What the root user is attached to: an instance or a cluster. */
export type RootTarget = 'instances' | 'clusters'

const enc = encodeURIComponent

/** The root user of an instance or cluster: `/{instances|clusters}/{id}/root`. */
export class Root {
  constructor(private readonly client: Transport) {}

  /** POST /{target}/{id}/root, with `{"password": P}` only when a password is given. */
  async enable(id: string, password?: string, target: RootTarget = 'instances'): Promise<RootUser> {
    const body = password === undefined ? undefined : { password }
    return (await this.client.request<{ user: RootUser }>('POST', `/${target}/${enc(id)}/root`, { body })).body.user
  }

  /** DELETE /instances/{id}/root. */
  async disable(instanceId: string): Promise<void> {
    await this.client.request('DELETE', `/instances/${enc(instanceId)}/root`)
  }

  /** GET /{target}/{id}/root: whether root was ever enabled. */
  async isEnabled(id: string, target: RootTarget = 'instances'): Promise<boolean> {
    return (await this.client.request<{ rootEnabled: boolean }>('GET', `/${target}/${enc(id)}/root`)).body.rootEnabled
  }
}
