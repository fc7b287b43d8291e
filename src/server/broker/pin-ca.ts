import type { Instances } from '../db/instances.js'
import type { Compute } from '../compute/compute.js'

/**
 * Pins the broker CA in every instance's bootstrap that lacks it (a lab made before
 * the broker spoke TLS) or holds another one (the lab's tls directory was lost and a
 * new CA made), and restarts such an instance's running agent (SIGTERM: the engine
 * keeps running and the new agent adopts it): the running one speaks plain TCP or
 * trusts the old CA, so it could not reach the broker again. Runs at server start,
 * before flows resume. Returns the ids of the instances whose agent it restarted.
 */
export async function pinBrokerCa(o: { ca: string; instances: Instances; compute: Compute; log: (m: string) => void; spawnAgents: boolean }): Promise<string[]> {
  const restarted: string[] = []
  await Promise.all(
    o.instances.listAll().map(async (inst) => {
      if (!o.compute.hasBootstrap(inst.id)) return
      let restart = false
      try {
        o.compute.updateBootstrap(inst.id, (b) => {
          if (b.mqtt.ca === o.ca) return
          restart = true
          b.mqtt = { ...b.mqtt, ca: o.ca }
        })
      } catch (e) {
        o.log(`instance ${inst.id}: bootstrap not updated with the broker CA: ${(e as Error).message}`)
        return
      }
      if (!restart) return
      if (!o.spawnAgents || !o.compute.agentAlive(inst.id)) return
      restarted.push(inst.id)
      o.log(`instance ${inst.id}: broker CA pinned in the bootstrap, restarting its agent`)
      await o.compute.stopAgent(inst.id)
      await o.compute.spawnAgent(inst.id)
    }),
  )
  return restarted
}
