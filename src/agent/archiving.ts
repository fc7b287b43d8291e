import { join } from 'node:path'
import { archiveDirOf, type AgentBootstrap, type ArchiveStatus } from '../protocol/index.js'
import { ArchiveShipper } from './archive-ship.js'
import type { Archiver, Datastore } from './datastores/types.js'
import { oneLine } from './engine-process.js'
import type { Log } from './log.js'
import { ObjectStore, objectStore } from './object-store.js'
import { Serial } from './serial.js'

/** A sandboxed instance's archive in its own volume, shipped from there (archive-ship.ts). */
export const LOCAL_ARCHIVE = 'archive'

/**
 * Continuous archiving, engine-neutral: the datastore's archiver (if it has one) runs
 * while archiving is on (bootstrap.archive, set from the instance's backup retention,
 * and a backupDir to archive into) and the engine answers. The supervisor calls
 * `engineAnswering` when the engine answers (after prepare, a restart, a re-adopt) and
 * `beforeEngineStop` before it stops it; `status` goes into each heartbeat.
 * In a sandbox (an object store in the bootstrap) the archiver writes into the instance's volume and
 * an ArchiveShipper ships it into the store; the status then claims no later time than it shipped.
 */
export class ArchiveKeeper {
  private archiver: Archiver | undefined
  private shipper: ArchiveShipper | undefined
  private answering = false
  private readonly queue = new Serial()

  constructor(
    private readonly bootstrap: AgentBootstrap,
    private readonly datastore: () => Datastore | undefined,
    private readonly log: Log,
  ) {}

  private get enabled(): boolean {
    return !!this.bootstrap.archive && !!this.bootstrap.backupDir
  }

  /** The engine answers: start archiving if it is on (idempotent); settles once it is started. */
  engineAnswering(): Promise<void> {
    this.answering = true
    return this.serial(() => this.startIfWanted()).catch((e: Error) => this.log(`archive: ${oneLine(e.message)}`))
  }

  /** Before the engine stops: stop the archiver (it starts again when the engine answers). */
  beforeEngineStop(): Promise<void> {
    this.answering = false
    return this.serial(() => this.stopArchiver())
  }

  /** set_archiving: the bootstrap was rewritten by the server; follow it now. */
  async set(enabled: boolean): Promise<ArchiveStatus> {
    this.bootstrap.archive = enabled
    await this.serial(() => (enabled ? this.startIfWanted() : this.stopArchiver()))
    return this.status() ?? { state: 'off', latest_time: null, detail: 'the instance is not loaded yet' }
  }

  /**
   * The agent is going away (the engine keeps running): the archiver stops; the slot keeps
   * the engine's WAL until the next agent's archiver has it.
   */
  close(): Promise<void> {
    this.answering = false
    return this.serial(() => this.stopArchiver())
  }

  /** For the heartbeat: undefined until the datastore is known. */
  status(): ArchiveStatus | undefined {
    const ds = this.datastore()
    if (!ds) return undefined
    if (!ds.archiver) return { state: 'off', latest_time: null, detail: `${ds.name} has no log archive: scheduled backups only` }
    if (!this.bootstrap.backupDir) return { state: 'off', latest_time: null, detail: 'no backup storage for this instance' }
    if (!this.bootstrap.archive) return { state: 'off', latest_time: null, detail: 'backup retention is 0 days' }
    if (!this.archiver) return { state: 'lagging', latest_time: null, detail: `waiting for ${ds.name} to answer` }
    const s = this.archiver.status()
    if (!this.shipper) return s
    const shipped = this.shipper.latest()
    const latest_time = s.latest_time && shipped ? (Date.parse(shipped) < Date.parse(s.latest_time) ? shipped : s.latest_time) : null
    const failed = this.shipper.error()
    if (failed && s.state === 'streaming') return { state: 'lagging', latest_time, detail: `shipping to the store: ${failed}` }
    return { ...s, latest_time }
  }

  private async startIfWanted(): Promise<void> {
    const ds = this.datastore()
    if (!this.enabled || !this.answering || !ds?.archiver) return
    const store = objectStore()
    const dir = store ? join(this.bootstrap.baseDir, LOCAL_ARCHIVE) : archiveDirOf(this.bootstrap.backupDir!, this.bootstrap.instanceId)
    const archiver = (this.archiver ??= ds.archiver(dir))
    await archiver.start().catch((e: Error) => this.log(`archive: could not start: ${oneLine(e.message)}`))
    if (store) {
      // Its own connections: a backup's stream never shares a socket with the shipper's every-0.5-s requests.
      this.shipper ??= new ArchiveShipper(new ObjectStore(store.o), dir, this.bootstrap.instanceId, () => archiver.status().latest_time, this.log)
      this.shipper.start()
    }
  }

  private async stopArchiver(): Promise<void> {
    const a = this.archiver
    const s = this.shipper
    this.archiver = undefined
    this.shipper = undefined
    await a?.stop().catch((e: Error) => this.log(`archive: could not stop: ${oneLine(e.message)}`))
    // After the archiver: its last bytes go too.
    await s?.stop()
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    return this.queue.run(fn)
  }
}
