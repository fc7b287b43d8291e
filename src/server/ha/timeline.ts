/** The moments of one automatic failover (issue 16 item 2: recorded in its notification). */
export class Timeline {
  private readonly at: Array<[string, number]> = []
  /** The monitor logged why it did not fail over (once per episode). */
  noted = false

  constructor(lastHeardAt: number, faultSeenAt: number) {
    this.at.push(['last_heartbeat', lastHeardAt], ['fault_seen', faultSeenAt])
  }

  mark(what: 'agreed' | 'writer_moved' | 'promoted' | 'endpoints_moved', at: number): void {
    this.at.push([what, at])
  }

  /** When the fault was seen (ms). */
  get seenAt(): number {
    return this.at[1]![1]
  }

  /** ISO times by moment, and each one's ms after the fault was seen. */
  json(): Record<string, { at: string; after_fault_ms: number }> {
    return Object.fromEntries(this.at.map(([k, t]) => [k, { at: new Date(t).toISOString(), after_fault_ms: t - this.seenAt }]))
  }

  text(): string {
    return this.at.map(([k, t]) => `${k} ${t - this.seenAt >= 0 ? '+' : ''}${t - this.seenAt} ms`).join(', ')
  }
}
