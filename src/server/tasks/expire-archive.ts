import { rmSync } from 'node:fs'
import type { Lab } from '../lab.js'
import { archiveStore } from '../db/archives.js'
import { archiveDir } from '../backups/archive-store.js'
import { archiveExpired } from '../backups/retention.js'
import type { FlowHandler, TaskRow } from './engine.js'

/**
 * Expiry of a deleted instance's archive that nothing restorable needs any more (no live
 * backup of the instance to start a restore from, its retention period after the
 * deletion passed: the scheduler's sweep submits it). Without it an instance that never
 * had a backup kept its archive for ever: archive-prune.ts only runs after backups expire.
 * Two recorded steps, each repeatable: the files go, then the record (instance_archives),
 * which is what makes the sweep pick the instance; a server killed in between resumes
 * the task at start and does both again. At run time the rule is checked again.
 */
export class ExpireArchiveFlow implements FlowHandler {
  readonly kind = 'expire_archive'

  constructor(
    private readonly lab: Lab,
    private readonly now: () => Date,
  ) {}

  async run(task: TaskRow): Promise<void> {
    const { lab } = this
    const archives = archiveStore(lab.db)
    const orphan = archives.orphans().find((o) => o.id === task.instance_id)
    // A resumed task whose files went already finishes (the rule held when they went).
    const interrupted = task.resumed && (task.step === 'remove_files' || task.step === 'forget')
    if (!interrupted && (!orphan || !archiveExpired(orphan, this.now()))) return
    lab.tasks.step(task, 'remove_files')
    rmSync(archiveDir(lab, task.instance_id), { recursive: true, force: true })
    lab.tasks.step(task, 'forget')
    archives.forget(task.instance_id)
    lab.log(`instance ${task.instance_id}: archive removed (deleted, no backup left, retention passed)`)
  }
}
