import type { Lab } from '../lab.js'
import { scheduleStore } from '../db/backup-schedules.js'
import { removeBackup } from '../backups/lifecycle.js'
import { expiredBackups } from '../backups/retention.js'
import type { FlowHandler, TaskRow } from './engine.js'

/**
 * Expiry of an instance's automated backups (retention, backups/retention.ts). The task
 * row records the backups chosen before anything is removed; each removal takes the
 * files first and then the row (with the quota) in one transaction, and is repeatable.
 * A server killed mid-expiry resumes the task at start and finishes the list: no file
 * stays without its row, and a live row whose file went is deleted then. At run time the
 * choice is checked again (a child made meanwhile keeps its parent).
 */
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
    // A resumed task may find some rows already deleted: removeBackup leaves them alone.
    const live = new Map(store.liveBackups(inst.id).map((b) => [b.id, b]))
    // The removal a killed server was in (its files may be gone already) is finished whatever the check says now.
    const interrupted = task.resumed && task.step.startsWith('remove:') ? task.step.slice('remove:'.length) : undefined
    for (const id of backupIds) {
      const b = live.get(id)
      if (!b || (!still.has(id) && id !== interrupted)) continue
      lab.tasks.step(task, `remove:${id}`)
      removeBackup(lab, b, 'expired (retention)')
    }
  }
}
