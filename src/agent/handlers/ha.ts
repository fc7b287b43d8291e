import type { EjectedFence, HaRpc, HaSpec } from '../../protocol/index.js'
import { RpcFailure } from '../rpc-failure.js'
import type { Lease } from '../lease.js'
import type { Handlers } from './types.js'

/** A spec from the wire, checked (the server's word, but checked as every argument is). */
function specOf(v: unknown): HaSpec | undefined {
  if (v === null || v === undefined) return undefined
  const s = v as Partial<HaSpec>
  const ms = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x > 0 && x <= 600_000
  if ((s.role !== 'primary' && s.role !== 'replica') || !ms(s.heartbeatMs) || !ms(s.leaseMs) || !ms(s.marginMs))
    throw new RpcFailure('BadRequest', 'ha: role, heartbeatMs, leaseMs and marginMs are needed')
  return { role: s.role, heartbeatMs: s.heartbeatMs!, leaseMs: s.leaseMs!, marginMs: s.marginMs! }
}

/** An ejected fence from the wire, checked. */
function ejectedOf(v: unknown): EjectedFence | undefined {
  if (v === null || v === undefined) return undefined
  const n = (v as Partial<EjectedFence>).newSource
  if (!n || typeof n.id !== 'string' || typeof n.host !== 'string' || !Number.isInteger(n.port)) throw new RpcFailure('BadRequest', 'ha: ejected needs newSource {id, host, port}')
  return { newSource: { id: n.id, host: n.host, port: n.port } }
}

/** set_ha, renew_lease and ha_view (protocol/ha.ts) on the agent's lease (lease.ts). */
export function haMethods(lease: () => Lease, changed: (spec: HaSpec | undefined) => void, ejected: (f: EjectedFence, held: boolean) => Promise<void>): Handlers<HaRpc> {
  return {
    set_ha: async (args) => {
      const spec = specOf(args.ha)
      const f = ejectedOf(args.ejected)
      lease().set(spec)
      changed(spec)
      if (f) await ejected(f, lease().eject())
      return null
    },
    renew_lease: async (args) => {
      if (typeof args.sent !== 'number') throw new RpcFailure('BadRequest', 'renew_lease: sent is needed')
      lease().renew(args.sent)
      return null
    },
    ha_view: async () => lease().view(),
  }
}
