import type { AgentEvent, BackupInfo, BackupRpc } from '../../protocol/index.js'
import { checkStore } from '../datastores/backup-files.js'
import type { Datastore } from '../datastores/types.js'
import { oneLine } from '../engine-process.js'
import type { Log } from '../log.js'
import { RpcFailure } from '../rpc-failure.js'
import type { Handlers } from './types.js'
import { GB } from '../../common/units.js'

type UpdateBackup = Extract<AgentEvent, { kind: 'update_backup' }>

/** What a backup needs from the agent. */
export interface BackupDeps {
  /** The store directory from the bootstrap (backupDir). */
  storeDir: string | undefined
  /** Runs fn with no other lifecycle operation meanwhile (supervisor.maintenance; the engine keeps running). */
  maintenance<T>(fn: (ds: Datastore) => Promise<T>): Promise<T>
  /** Publishes an update_backup event (upstream's conductor cast). */
  emit(ev: Omit<UpdateBackup, 'kind' | 'sent'>): void
  log: Log
}

/**
 * create_backup (internals.md 1.4): a cast. Reports BUILDING, runs the engine's online
 * backup into the directory store (serialised with restarts, resizes and the like,
 * without stopping the engine), then COMPLETED with size (GB), checksum and location,
 * or FAILED with the reason. Keyed by backup id: a repeated cast (a resumed server
 * task, a redelivery) joins the running backup, or re-reports a finished one.
 */
export class BackupRunner {
  private readonly running = new Map<string, Promise<void>>()
  private readonly finished = new Map<string, Omit<UpdateBackup, 'kind' | 'sent'>>()

  constructor(private readonly deps: BackupDeps) {}

  create(info: BackupInfo): Promise<void> {
    const done = this.finished.get(info.id)
    if (done) {
      this.deps.emit(done)
      return Promise.resolve()
    }
    let run = this.running.get(info.id)
    if (!run) {
      run = this.run(info).finally(() => this.running.delete(info.id))
      this.running.set(info.id, run)
    }
    return run
  }

  private async run(info: BackupInfo): Promise<void> {
    const { deps } = this
    const t0 = Date.now()
    const report = (ev: Omit<UpdateBackup, 'kind' | 'sent'>) => {
      if (ev.state !== 'BUILDING') this.finished.set(info.id, ev)
      deps.emit(ev)
    }
    try {
      if (!deps.storeDir) throw new Error('this agent has no backup store (backupDir) in its bootstrap')
      await checkStore(deps.storeDir)
      report({ backupId: info.id, state: 'BUILDING' })
      const storeDir = deps.storeDir
      const stored = await deps.maintenance(async (ds) => {
        if (!ds.backup) throw new Error(`${ds.name} cannot be backed up`)
        return ds.backup(info, storeDir)
      })
      deps.log(`backup ${info.id} (${info.backup_type}) stored: ${stored.bytes} bytes in ${Date.now() - t0} ms`)
      report({ backupId: info.id, state: 'COMPLETED', size: stored.bytes / GB, checksum: stored.checksum, location: stored.location })
    } catch (err) {
      const message = oneLine((err as Error).message)
      deps.log(`backup ${info.id} failed: ${message}`)
      report({ backupId: info.id, state: 'FAILED', message })
    }
  }
}

/** The backup RPC methods (create_backup), given the agent's runner. */
export function backupMethods(createBackup: (info: BackupInfo) => Promise<void>): Handlers<BackupRpc> {
  return {
    create_backup: async (args) => {
      const info = args.backup_info as BackupInfo | undefined
      if (!info || typeof info.id !== 'string' || !['full', 'incremental'].includes(info.backup_type))
        throw new RpcFailure('BadRequest', 'create_backup needs backup_info with an id and a backup_type')
      await createBackup(info)
      return null
    },
  }
}
