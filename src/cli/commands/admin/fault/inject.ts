import { FAULT_KINDS, type FaultKind } from '../../../../sdk/index.js'
import type { CommandSpec } from '../../../spec.js'
import { usageError } from '../../../errors.js'
import { findResource } from '../../../resolve.js'

export const adminFaultInject: CommandSpec = {
  path: ['admin', 'fault', 'inject'],
  summary: 'Inject a fault into an instance to rehearse a failure (lab only; admin)',
  description:
    "kill-engine: SIGKILL of the engine's processes (the agent's supervisor restarts it). " +
    'kill-agent: SIGKILL of the guest agent (its engine keeps running; the reconciler starts a new agent). ' +
    'pause: freezes agent and engine (a sandbox: runc pause; without one: SIGSTOP) until heal. ' +
    'partition: cuts the instance off the network both ways (broker, replicas, clients, endpoints) until heal; ' +
    'sandboxed instances only. heal: undoes pause and partition. ' +
    'Each fault is recorded as the notification dbaas.instance_fault.start/.end with the user and the time.',
  args: [
    { name: 'instance', description: 'ID or name of the instance (any project)' },
    { name: 'kind', description: `One of ${FAULT_KINDS.join(', ')}` },
  ],
  output: 'show',
  examples: ['trove admin fault inject db1 partition', 'trove admin fault inject db1 heal', 'trove admin fault inject db1 kill-engine -f json'],
  async run(ctx, args) {
    const kind = String(args.kind)
    if (!(FAULT_KINDS as readonly string[]).includes(kind)) throw usageError(`invalid fault kind '${kind}' (choose from ${FAULT_KINDS.join(', ')})`)
    const client = await ctx.client()
    const inst = await findResource(
      'instance',
      String(args.instance),
      (id) => client.mgmtInstances.get(id),
      () => client.mgmtInstances.list(),
    )
    const f = await client.mgmtInstances.injectFault(inst.id, kind as FaultKind)
    return { kind: 'show', fields: { instance_id: f.instance_id, kind: f.kind, effect: f.effect, after: f.after, injected_at: f.injected_at, user_id: f.user_id } }
  },
}
