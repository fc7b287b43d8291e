import type { Lab } from '../lab.js'
import { scheduleStore } from '../db/backup-schedules.js'
import { removeBackups } from '../backups/lifecycle.js'
import { expiredBackups } from '../backups/retention.js'
import { pruneArchive } from '../backups/archive-prune.js'
import type { FlowHandler, TaskRow } from './engine.js'

/**
 * Expiry of an instance's automated backups (retention, backups/retention.ts). The task
 * row records the backups chosen before anything is removed; they go in batches (the
 * step names the batch), each taking the files first and then the rows (with the quota)
 * in one transaction; a batch is repeatable.
 * A server killed mid-expiry resumes the task at start and finishes the list: no file
 * stays without its row, and a live row whose file went is deleted then. At run time the
 * choice is checked again (a child made meanwhile keeps its parent).
 */
/** Backups removed per step (files, then one transaction for their rows and quota). */
const BATCH = 100

export class ExpireBackupsFlow implements FlowHandler {
  readonly kind = 'expire_backups'

  constructor(
    private readonly lab: Lab,
    private readonly now: () => Date,
  ) {}

  async run(task: TaskRow): Promise<void> {
    const { lab } = this
    const { backupIds } = JSON.parse(task.payload) as { backupIds: string[] }
    const store = scheduleStore(lab.db)
    const inst = store.retentionOf(task.instance_id)
    if (!inst) return
    const still = new Set(expiredBackups(inst, store.liveBackups(inst.id), this.now()))
    // A resumed task may find some rows already deleted: removeBackups leaves them alone.
    const live = new Map(store.liveBackups(inst.id).map((b) => [b.id, b]))
    // The batch a killed server was in (its files may be gone already) is finished whatever the check says now.
    const interrupted = task.resumed && task.step.startsWith('remove:') ? Number(task.step.slice('remove:'.length)) : -1
    for (let i = 0; i * BATCH < backupIds.length; i++) {
      const batch = backupIds
        .slice(i * BATCH, (i + 1) * BATCH)
        .map((id) => (still.has(id) || i === interrupted ? live.get(id) : undefined))
        .filter((b) => b !== undefined)
      if (!batch.length) continue
      lab.tasks.step(task, `remove:${i}`)
      removeBackups(lab, batch, 'expired (retention)')
      // Let requests in between batches.
      if ((i + 1) * BATCH < backupIds.length) await new Promise((r) => setImmediate(r))
    }
    // The log archive follows: what no kept backup can use goes (backups/archive-prune.ts).
    lab.tasks.step(task, 'prune_archive')
    pruneArchive(lab, inst.id)
  }
}
