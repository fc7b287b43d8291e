import { randomUUID } from 'node:crypto'
import type { DB } from './db/index.js'
import { isoNow } from './db/index.js'
import { quotaOverrides } from './db/quotas.js'
import { quotaUsages } from './db/quota-usages.js'
import { COMMITTED, ROLLED_BACK, reservations } from './db/reservations.js'
import { Fault } from './errors.js'
import { pyRepr } from './py-repr.js'

/** Upstream's quota resources (trove/quota/quota.py), in the order views list them. */
export const QUOTA_RESOURCES = ['instances', 'ram', 'backups', 'volumes'] as const
export type QuotaResource = (typeof QUOTA_RESOURCES)[number]
/** A hard limit per resource; -1 = unlimited. ram is in MB, volumes in GB (total). */
export type QuotaLimits = Record<QuotaResource, number>
/** Changes of usage an operation asks for (negative ones release usage). */
export type QuotaDeltas = Partial<Record<QuotaResource, number>>

/** Upstream's max_instances_per_tenant, max_ram_per_tenant, max_backups_per_tenant, max_volumes_per_tenant. */
export const UPSTREAM_QUOTAS: Readonly<QuotaLimits> = Object.freeze({ instances: 10, ram: -1, backups: 50, volumes: 40 })

/**
 * The lab's defaults (every server is a lab; `quotaDefaults` or an admin's quota update changes
 * them). Upstream's 40 GB of volumes hold four instances at the 10 GB maximum size, and a replica
 * counts like any instance, so a source with three replicas at that size already fills them. A
 * lab volume is a directory with an allotment, not reserved disk: here each of 20 instances may
 * take the maximum size, and backups are plentiful. RAM stays unlimited, as upstream.
 */
export const DEFAULT_QUOTAS: Readonly<QuotaLimits> = Object.freeze({ instances: 20, ram: -1, backups: 100, volumes: 200 })

/** One resource of a project as `GET /mgmt/quotas/{project}` shows it. */
export interface QuotaUsage {
  resource: QuotaResource
  in_use: number
  reserved: number
  limit: number
}

/** What reserve() holds until commit() or rollback(). */
export interface Reservation {
  readonly tenantId: string
  readonly ids: readonly string[]
}

/** Is `name` one of the quota resources? */
export function isQuotaResource(name: string): name is QuotaResource {
  return (QUOTA_RESOURCES as readonly string[]).includes(name)
}

/**
 * The deltas of one instance (api.md 10): one instance, its flavor's RAM and its volume.
 * `sign` -1 gives the deltas that release them (delete).
 */
export function instanceDeltas(ramMb: number, volumeGb: number | null, sign: 1 | -1 = 1): QuotaDeltas {
  return { instances: sign, ram: sign * ramMb, volumes: sign * (volumeGb ?? 0) }
}

/**
 * Upstream's DbQuotaDriver + run_with_quotas (internals.md 6) on SQLite. reserve()
 * checks every positive delta against the project's limit (override, else default)
 * counting usage already reserved by calls still under way, and adds the deltas to
 * `reserved`; commit() moves them to `in_use`; rollback() gives them back. Each step
 * is one transaction, and reserve() runs BEGIN IMMEDIATE: the check and the write
 * cannot interleave with another reservation, so two creates never both take the
 * last slot (within this process better-sqlite3 is synchronous anyway; IMMEDIATE
 * also covers a second process on the same file).
 */
export class Quotas {
  private readonly s
  private readonly reserveTx: (tenantId: string, deltas: QuotaDeltas) => Reservation
  private readonly settleTx: (r: Reservation, commit: boolean) => void

  constructor(
    private readonly db: DB,
    private readonly defaults: Readonly<QuotaLimits>,
  ) {
    for (const r of QUOTA_RESOURCES) {
      if (!Number.isInteger(defaults[r]) || defaults[r] < -1) throw new Error(`quota default for ${r} must be an integer >= -1, not ${String(defaults[r])}`)
    }
    this.s = { overrides: quotaOverrides(db), usages: quotaUsages(db), reservations: reservations(db) }

    const reserve = db.transaction((tenantId: string, deltas: QuotaDeltas): Reservation => {
      const limits = this.limits(tenantId)
      const usage = this.usageOf(tenantId)
      const overs = QUOTA_RESOURCES.filter((r) => {
        const d = deltas[r] ?? 0
        return d > 0 && limits[r] >= 0 && usage[r].in_use + usage[r].reserved + d > limits[r]
      }).sort()
      // Upstream: QuotaExceeded("Quota exceeded for resources: %(overs)s.") with a sorted Python list.
      if (overs.length) throw new Fault('overLimit', `Quota exceeded for resources: ${pyRepr(overs)}.`)
      const now = isoNow()
      const ids: string[] = []
      for (const r of QUOTA_RESOURCES) {
        const d = deltas[r]
        if (!d) continue
        const usageId = this.s.usages.ensure(tenantId, r, now)
        this.s.usages.addReserved(usageId, d, now)
        const id = randomUUID()
        this.s.reservations.insert(id, usageId, d, now)
        ids.push(id)
      }
      return { tenantId, ids }
    })
    this.reserveTx = (tenantId, deltas) => reserve.immediate(tenantId, deltas)

    this.settleTx = db.transaction((r: Reservation, commit: boolean) => {
      const now = isoNow()
      for (const id of r.ids) {
        const row = this.s.reservations.close(id, commit ? COMMITTED : ROLLED_BACK, now)
        if (!row) continue
        if (commit) this.s.usages.commit(row.usage_id, row.delta, now)
        else this.s.usages.rollback(row.usage_id, row.delta, now)
      }
    })
  }

  /** The hard limits of a project: its overrides, else the defaults. */
  limits(tenantId: string): QuotaLimits {
    const out: QuotaLimits = { ...this.defaults }
    for (const row of this.s.overrides.ofTenant(tenantId)) {
      if (isQuotaResource(row.resource)) out[row.resource] = row.hard_limit
    }
    return out
  }

  /** Usage and limit of every resource of a project (read only: a project never seen has zero usage). */
  usage(tenantId: string): QuotaUsage[] {
    const limits = this.limits(tenantId)
    const usage = this.usageOf(tenantId)
    return QUOTA_RESOURCES.map((r) => ({ resource: r, in_use: usage[r].in_use, reserved: usage[r].reserved, limit: limits[r] }))
  }

  /** Sets per-project hard limits (-1 = unlimited) in one transaction. */
  setLimits(tenantId: string, limits: QuotaDeltas): void {
    this.db.transaction(() => {
      const now = isoNow()
      for (const r of QUOTA_RESOURCES) {
        const v = limits[r]
        if (v !== undefined) this.s.overrides.set(tenantId, r, v, now)
      }
    })()
  }

  /**
   * Checks the deltas against the project's quota and reserves them; throws the
   * upstream 413 overLimit fault (nothing reserved) when a positive delta does not fit.
   */
  reserve(tenantId: string, deltas: QuotaDeltas): Reservation {
    for (const r of Object.keys(deltas)) {
      // Upstream QuotaResourceUnknown (404); only a caller's bug can get here.
      if (!isQuotaResource(r)) throw new Fault('itemNotFound', `Unknown quota resources ${pyRepr([r])}.`)
    }
    return this.reserveTx(tenantId, deltas)
  }

  /** Moves reserved usage to in_use (floored at 0). Acts once; later calls do nothing. */
  commit(r: Reservation): void {
    this.settleTx(r, true)
  }

  /** Gives reserved usage back. Acts once, and not after commit(). */
  rollback(r: Reservation): void {
    this.settleTx(r, false)
  }

  /**
   * Runs `write` and commits the reservation in one transaction: the rows an
   * operation writes and the usage they account for are stored together or not at all.
   */
  commitWith<T>(r: Reservation, write: () => T): T {
    return this.db.transaction(() => {
      const out = write()
      this.settleTx(r, true)
      return out
    })()
  }

  /**
   * Upstream's run_with_quotas for synchronous work: reserve, run, commit on success,
   * roll back (and rethrow) on failure.
   */
  run<T>(tenantId: string, deltas: QuotaDeltas, work: () => T): T {
    const r = this.reserve(tenantId, deltas)
    try {
      return this.commitWith(r, work)
    } catch (e) {
      this.rollback(r)
      throw e
    }
  }

  /**
   * Settles a reservation on the outcome of asynchronous work: rolled back if `work`
   * rejects, committed when it resolves (unless `work` already committed it, e.g.
   * with commitWith() next to its insert).
   */
  async settle<T>(r: Reservation, work: Promise<T>): Promise<T> {
    let out: T
    try {
      out = await work
    } catch (e) {
      this.rollback(r)
      throw e
    }
    this.commit(r)
    return out
  }

  /**
   * Rolls back reservations a previous run left open. A reservation lives only as
   * long as one API call, so at start-up any open one belongs to a call that died
   * with the server, and its `reserved` usage would otherwise be held forever.
   */
  rollbackOpen(): number {
    const ids = this.s.reservations.open()
    if (ids.length) this.settleTx({ tenantId: '', ids }, false)
    return ids.length
  }

  private usageOf(tenantId: string): Record<QuotaResource, { in_use: number; reserved: number }> {
    const out = Object.fromEntries(QUOTA_RESOURCES.map((r) => [r, { in_use: 0, reserved: 0 }])) as Record<QuotaResource, { in_use: number; reserved: number }>
    for (const row of this.s.usages.ofTenant(tenantId)) {
      if (isQuotaResource(row.resource)) out[row.resource] = { in_use: row.in_use, reserved: row.reserved }
    }
    return out
  }
}
