import type { ChildProcess } from 'node:child_process'
import { chmod, chown, mkdir, readFile, readdir, realpath, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { INSTANCE_FILES, type AgentBootstrap } from '../protocol/index.js'
import { dropFetchedArchive, fetchArchive } from './archive-fetch.js'
import type { Datastore, EngineCommand, InstancePaths, RunUser } from './datastores/types.js'
import { checkOverrides } from './datastores/overrides.js'
import { EngineProcess, oneLine, runTool } from './engine-process.js'
import { GuestError } from './guest-error.js'
import type { Log } from './log.js'
import { TEMPLATE_INFO, syncTree, type TemplateCache, type TemplateIdentity } from './template-cache.js'

/** A data dir copied from a template; `synced` settles (with the error, if any) once the copy is on disk. */
interface CopiedTemplate {
  key: string
  synced: Promise<Error | undefined>
}

/** The copied data dir could not be synced: a disk problem, not the template's. */
class CopySyncError extends GuestError {}

/** The instance's directories under its base dir (agent.json's baseDir). */
export function instancePaths(baseDir: string): InstancePaths {
  return {
    base: baseDir,
    data: join(baseDir, INSTANCE_FILES.dataDir),
    run: join(baseDir, INSTANCE_FILES.runDir),
    log: join(baseDir, INSTANCE_FILES.logDir),
    conf: join(baseDir, INSTANCE_FILES.confDir),
    tmp: join(baseDir, INSTANCE_FILES.tmpDir),
  }
}

/** What preparation needs from the supervisor: the loaded engine, and the engine process's control. */
export interface PrepareHost {
  readonly bootstrap: AgentBootstrap
  readonly paths: InstancePaths
  readonly ds: Datastore
  readonly user: RunUser
  /** The lab's template cache, for engines with an init command when the bootstrap names one. */
  readonly templates: TemplateCache | undefined
  readonly log: Log
  /** True once the agent is going away. */
  readonly closed: boolean
  /** Remembers a tool's process (init, template work), so shutdown and close can end it. */
  track(child: ChildProcess | undefined): void
  /** Kill (not stop) the engine this agent runs, if any. */
  killCurrent(): Promise<void>
  /** A running engine of this instance, by its pid files. */
  findRunning(): Promise<number | undefined>
  /** The data dir's real path, as /proc shows it for the engine (set once the dir exists). */
  setDataReal(path: string): void
  /** Start the freshly prepared engine and wait until it answers, or throw why not. */
  startAnswering(): Promise<EngineProcess>
  /** Says that what comes next runs in other processes (a restore, an init, a copy): the agent may connect meanwhile. */
  waitingElsewhere(): void
}

/**
 * First boot (internals.md 1.1): the instance's directories, the engine's config and
 * configuration group, its data dir (from a restore, a replica's source, the lab's
 * template or the engine's init), the first start, then the create-time payload
 * (databases, users, root) and prepare.done. Throws with the fault to report; the
 * supervisor owns the status and the engine process.
 */
export class Preparation {
  constructor(private readonly h: PrepareHost) {}

  /** Runs the whole preparation; resolves with the engine process once prepare.done is written. */
  async run(): Promise<EngineProcess> {
    const { h } = this
    const { ds, user } = h
    // The template key needs the engine's version (a process): read it meanwhile.
    const identity = h.templates?.identify(ds)
    identity?.catch(() => undefined)
    h.log(`prepare: ${ds.name} ${h.bootstrap.datastore.version}, ${h.bootstrap.flavor.ramMb} MB RAM`)
    // An engine still running here comes from a prepare that failed or was interrupted:
    // its data is not trusted.
    await h.killCurrent()
    const leftover = await h.findRunning()
    if (leftover) {
      h.log(`prepare: killing engine pid ${leftover} left by an interrupted prepare`)
      const p = EngineProcess.adopt(leftover)
      p.kill('SIGKILL')
      await p.waitGone(10_000)
      p.release()
    }
    for (const dir of [h.paths.data, h.paths.run, h.paths.log, h.paths.tmp, h.paths.conf]) {
      await mkdir(dir, { recursive: true })
      await chown(dir, user.uid, user.gid)
      await chmod(dir, 0o700)
    }
    h.setDataReal(await realpath(h.paths.data))
    // The server copied the lab's template in (a sandbox: bootstrap prepare.fromTemplate); its template.json,
    // removed once taken, tells a first prepare from one that died after taking it.
    const copied = !!h.bootstrap.prepare.fromTemplate && (await stat(join(h.paths.data, TEMPLATE_INFO)).catch(() => undefined)) !== undefined
    // Wipe a half-initialised data dir (an earlier prepare died); keep the dir and its owner.
    const leftovers = copied ? 0 : await this.wipeDataDir()
    if (leftovers > 0) h.log(`prepare: wiped ${leftovers} entries of a half-initialised data dir`)
    await ds.writeConfig()
    if (h.bootstrap.prepare.overrides && Object.keys(h.bootstrap.prepare.overrides).length) {
      if (!ds.updateOverrides) throw new GuestError(`${ds.name} has no configuration overrides`)
      await ds.updateOverrides(checkOverrides(h.bootstrap.prepare.overrides), false)
    }
    if (h.bootstrap.prepare.restore || h.bootstrap.prepare.replica) h.waitingElsewhere()
    const seeded = await this.seed(ds)
    const init = seeded ? undefined : await ds.initCommand()
    if (init) h.waitingElsewhere()
    const template = init && copied ? await this.takeCopied() : init && identity ? await this.copyTemplate(identity) : undefined
    if (init && !template) await this.runInit(init)
    let proc: EngineProcess
    try {
      proc = await h.startAnswering()
      const unsynced = await template?.synced
      if (unsynced) throw new CopySyncError(`could not sync the copied data dir: ${unsynced.message}`)
    } catch (err) {
      if (!template || !init || h.closed) throw err
      // Whatever the reason (a bad template, or the instance's own config or port), a
      // normal init tells: if it fails too, its fault is the one reported.
      const what = err instanceof CopySyncError ? 'could not use' : 'did not come up from'
      h.log(`prepare: ${ds.name} ${what} template ${template.key} (${oneLine((err as Error).message)}); initialising from scratch`)
      await template.synced
      await h.killCurrent()
      await this.wipeDataDir()
      await this.runInit(init)
      proc = await h.startAnswering()
      // A fresh init came up where the template's copy did not: the template is bad.
      if (!(err instanceof CopySyncError) && h.templates)
        await h.templates.evict(template.key).then(
          () => h.log(`template ${template.key} evicted: a fresh init started where its copy did not`),
          (e: Error) => h.log(`template ${template.key}: could not evict it: ${oneLine(e.message)}`),
        )
    }
    const payload = h.bootstrap.prepare
    if (payload.restore) {
      await ds.afterRestore?.(payload.restore)
      await dropFetchedArchive(h.paths.tmp)
    }
    if (payload.replica) await ds.attachReplica!(payload.replica)
    else if (ds.applyPreparePayload) await ds.applyPreparePayload(payload)
    else if (payload.databases.length + payload.users.length > 0 || payload.rootPassword) h.log(`prepare: databases/users/root password of the payload are not supported yet, ignored`)
    await writeFile(join(h.paths.base, INSTANCE_FILES.prepareDone), new Date().toISOString() + '\n')
    await this.forgetPreparePasswords()
    return proc
  }

  /**
   * Once prepared, the create-time passwords (users, root) are no longer needed: remove
   * them from agent.json so they do not rest on disk (the file is 0600, but still).
   * Read-modify-rename, as the server does when it updates the file.
   */
  private async forgetPreparePasswords(): Promise<void> {
    const file = join(this.h.paths.base, INSTANCE_FILES.bootstrap)
    try {
      const b = JSON.parse(await readFile(file, 'utf8')) as AgentBootstrap
      const p = b.prepare
      if (!p || (!p.rootPassword && !p.users?.some((u) => u.password))) return
      delete p.rootPassword
      p.users = (p.users ?? []).map((u) => ({ ...u, password: '' }))
      const tmp = `${file}.${process.pid}.tmp`
      await writeFile(tmp, JSON.stringify(b, null, 2), { mode: 0o600 })
      await rename(tmp, file)
    } catch (err) {
      this.h.log(`prepare: could not remove the create-time passwords from agent.json: ${oneLine((err as Error).message)}`)
    }
  }

  /** Restore or replica seeding instead of init: true when the data dir was filled. */
  private async seed(ds: Datastore): Promise<boolean> {
    const { restore, replica } = this.h.bootstrap.prepare
    if (restore) {
      if (!ds.restoreBackup) throw new GuestError(`${ds.name} cannot restore backups`)
      const t0 = Date.now()
      // In a sandbox: the source's archive, for a restore to a point in time, fetched through the store.
      await fetchArchive(restore, this.h.paths.tmp)
      await ds.restoreBackup(restore)
      this.h.log(`prepare: restored backup ${restore.backupId} in ${Date.now() - t0} ms`)
      return true
    }
    if (replica) {
      if (!ds.attachReplica) throw new GuestError(`${ds.name} cannot be a replica`)
      return ds.seedReplica ? ds.seedReplica(replica) : false
    }
    return false
  }

  /**
   * The data dir from the lab's template (made first when there is none). Any problem
   * (no usable template dir, init or copy failing, a corrupt template) is logged once
   * and leaves an empty data dir for a normal init: the cache never fails a create.
   */
  private async copyTemplate(identity: Promise<TemplateIdentity>): Promise<CopiedTemplate | undefined> {
    const { h } = this
    const cache = h.templates!
    const t0 = Date.now()
    try {
      const tpl = await cache.provide(h.ds, await identity)
      this.checkClosed()
      const t1 = Date.now()
      await cache.copyInto(tpl.path, h.paths.data)
      this.checkClosed()
      // Synced while the engine starts; prepare.done waits for it.
      const t2 = Date.now()
      const synced = cache.sync(h.paths.data).then(
        () => void h.log(`prepare: copy synced in ${Date.now() - t2} ms`),
        (err: Error) => err,
      )
      const made = tpl.built ? `, template made in ${t1 - t0} ms` : ''
      h.log(`prepare: data dir copied from template ${tpl.key} in ${Date.now() - t1} ms${made}`)
      return { key: tpl.key, synced }
    } catch (err) {
      this.checkClosed()
      h.log(`prepare: template not used (${oneLine((err as Error).message)}); initialising from scratch`)
      await this.wipeDataDir()
      return undefined
    }
  }

  /** The data dir the server copied from its template (a sandbox's): kept, synced while the engine starts. */
  private async takeCopied(): Promise<CopiedTemplate> {
    const { h } = this
    const info = JSON.parse(await readFile(join(h.paths.data, TEMPLATE_INFO), 'utf8').catch(() => '{}')) as { key?: string }
    await rm(join(h.paths.data, TEMPLATE_INFO), { force: true })
    const t0 = Date.now()
    const synced = syncTree(h.paths.data, h.user, (c) => h.track(c)).then(
      () => void h.log(`prepare: copy synced in ${Date.now() - t0} ms`),
      (err: Error) => err,
    )
    const key = info.key ?? 'of the lab'
    h.log(`prepare: data dir copied by the server from template ${key}`)
    return { key, synced }
  }

  private async runInit(init: EngineCommand): Promise<void> {
    const t1 = Date.now()
    const r = await runTool(init, this.h.user, (c) => this.h.track(c))
    this.checkClosed()
    if (r.code !== 0) {
      const why = this.h.ds.faultLine(r.output) ?? lastLine(r.output) ?? `exit code ${r.code ?? r.signal}`
      throw new GuestError(`${init.file} failed: ${why}`)
    }
    this.h.log(`prepare: data dir initialised in ${Date.now() - t1} ms`)
  }

  /** Empties the data dir, keeping the dir itself with the run user as owner and mode 0700. */
  private async wipeDataDir(): Promise<number> {
    const data = this.h.paths.data
    const entries = await readdir(data)
    await Promise.all(entries.map((n) => rm(join(data, n), { recursive: true, force: true })))
    await chown(data, this.h.user.uid, this.h.user.gid)
    await chmod(data, 0o700)
    return entries.length
  }

  private checkClosed(): void {
    if (this.h.closed) throw new GuestError('agent closing')
  }
}

function lastLine(text: string): string | undefined {
  const lines = text.split('\n').filter((l) => l.trim() !== '')
  return lines.length ? oneLine(lines[lines.length - 1]!) : undefined
}
