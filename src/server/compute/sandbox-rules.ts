import { applyFirewall } from './firewall.js'
import type { LabNetwork } from './network.js'
import { instanceRules } from './replication-rules.js'
import type { SandboxRecord } from './sandbox-guest.js'

export interface LabRulesOptions {
  /** The lab's network, once set up (no network: nothing to apply). */
  net: () => LabNetwork | undefined
  /** The sandbox records, by instance id (a record being written or cut short: left out). */
  records: () => Map<string, SandboxRecord>
  /** The host ports instances may reach (the broker's, the object store's). */
  hostPorts: () => number[]
}

/**
 * The lab's packet filter kept in step with the sandbox records and the server's replication sets: each apply
 * writes the whole rule set in one nft transaction, one apply at a time (firewall.ts, replication-rules.ts).
 */
export class LabRules {
  private rules: Promise<unknown> = Promise.resolve()
  private sets: () => string[][] = () => []

  constructor(private readonly o: LabRulesOptions) {}

  /** Where the server's replication sets (ids) are read from. */
  follow(sets: () => string[][]): void {
    this.sets = sets
  }

  /** Applies the rule set as the records and sets are now (after the applies already asked for). */
  apply(): Promise<void> {
    const run = this.rules.then(async () => {
      const net = this.o.net()
      if (!net) return
      await applyFirewall(net, { instances: instanceRules(this.o.records(), this.sets), hostPorts: this.o.hostPorts() })
    })
    this.rules = run.catch(() => undefined)
    return run
  }
}
