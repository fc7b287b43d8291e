import { createHash } from 'node:crypto'
import { chmod, mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { LOG_CONTAINER as OBJECT_LOG_CONTAINER, type RpcGuestLog } from '../protocol/index.js'
import type { Log } from './log.js'
import { objectStore, type ObjectStore } from './object-store.js'
import { Serial } from './serial.js'

/** Upstream's LogType: SYS logs are always on and can only be published; USER logs can be switched. */
export type GuestLogType = RpcGuestLog['type']

/** One log an engine exposes (upstream's guest_log definitions, internals.md 3.5 and 4). */
export interface GuestLogDef {
  /** Upstream's name: general, slow_query, error, guest, redis... */
  name: string
  type: GuestLogType
  /** The log file on this host. */
  file: string
  /** Listed for (and usable by) non-admins: upstream's guest_log_exposed_logs. */
  exposed: boolean
  /**
   * USER logs: switch the log on or off in the engine, persisted in its config and live
   * where the engine allows; resolves true when the change waits for a restart.
   */
  setEnabled?(on: boolean): Promise<boolean>
}

/** The show dict of a log (api.md 6.5 GuestLog; sizes are integers like the upstream code): the catalogue's. */
export type GuestLogView = RpcGuestLog

/** Why an action is refused; the RPC layer turns `kind` into the reply's error type. */
export class GuestLogError extends Error {
  constructor(
    readonly kind: 'BadRequest' | 'NotFound' | 'Forbidden' | 'NotSupported',
    message: string,
  ) {
    super(message)
  }
}

/** Upstream's guest_log_container_name and guest_log_limit. */
export const LOG_CONTAINER = OBJECT_LOG_CONTAINER
export const LOG_CHUNK_BYTES = 1_000_000
/** How much of the head of a file its header digest covers (the first line, at most this). */
const HEADER_BYTES = 4096

interface Meta {
  log_name: string
  log_type: GuestLogType
  log_file: string
  log_size: number
  log_header_digest: string
}

/** Per-log state the agent keeps across restarts (the publish state lives in the metafile). */
interface SavedState {
  enabled?: boolean
  /** Set when enabling/disabling waits for an engine restart: the engine pid then. */
  restartPid?: number | null
}

export interface GuestLogOptions {
  instanceId: string
  /** The datastore manager, the `<datastore>` of object prefixes (mariadb-general). */
  manager: string
  /** The lab's object store root (a directory store); absent: publishing is not supported. */
  storageDir: string | undefined
  /** Where the per-log state is kept (0600). */
  stateFile: string
  /** The engine's pid now, to tell when a restart a change waited for happened. */
  enginePid: () => number | undefined
  log: Log
}

/**
 * The guest's log manager (upstream GuestLog, trove/guestagent/guest_log.py). Publishing
 * appends the bytes not yet published as objects `log-<timestamp>` of at most 1 MB under
 * STORAGE/database_logs/<instance>/<datastore>-<log>/, plus a metafile beside the
 * prefix; the lab's directory store stands in for Swift (dirs 0700, files 0600, root). In a sandbox
 * the same objects go through the server's object store (./object-store.ts): PUT per object, GET of
 * the metafile, DELETE of the prefix.
 */
export class GuestLogManager {
  private state: Record<string, SavedState> | undefined
  private readonly queue = new Serial()

  constructor(
    private readonly defs: GuestLogDef[],
    private readonly o: GuestLogOptions,
  ) {}

  /** guest_log_list: every log the caller may see. */
  list(isAdmin: boolean): Promise<GuestLogView[]> {
    return this.serial(async () => {
      const out: GuestLogView[] = []
      for (const d of this.defs) if (d.exposed || isAdmin) out.push(await this.show(d))
      return out
    })
  }

  /** guest_log_action (upstream's manager.guest_log_action), one action at a time. */
  action(a: { name: string; enable: boolean; disable: boolean; publish: boolean; discard: boolean; isAdmin: boolean }): Promise<GuestLogView> {
    return this.serial(async () => {
      if (a.enable && a.disable) throw new GuestLogError('BadRequest', `Cannot enable and disable log '${a.name}'.`)
      const d = this.defs.find((x) => x.name === a.name)
      if (!d) throw new GuestLogError('NotFound', `Log '${a.name}' is not defined.`)
      // Publishing implies enabling, unless told to disable.
      const enable = a.enable || (a.publish && !a.disable)
      const what = a.publish ? 'publish' : a.discard ? 'discard' : 'show'
      if (!d.exposed && !a.isAdmin) throw new GuestLogError('Forbidden', `User does not have admin privileges to '${what}' the '${d.name}' log.`)
      if (d.type === 'SYS' && !a.publish && (a.enable || a.disable)) throw new GuestLogError('BadRequest', `Cannot ${a.enable ? 'enable' : 'disable'} a SYSTEM log ('${d.name}').`)
      if ((a.publish || a.discard) && !this.o.storageDir) throw new GuestLogError('NotSupported', 'Log actions are not supported.')
      if (d.type === 'USER' && d.setEnabled) {
        const on = await this.enabled(d)
        if ((on && a.disable) || (!on && enable)) {
          const restart = await d.setEnabled(!on)
          const s = await this.saved(d.name)
          s.enabled = !on
          s.restartPid = restart ? (this.o.enginePid() ?? null) : undefined
          await this.save()
          this.o.log(`guest log ${d.name} ${on ? 'disabled' : 'enabled'}${restart ? ' (restart required)' : ''}`)
        }
      }
      if (a.publish) await this.publish(d)
      if (a.discard) await this.discard(d)
      return this.show(d)
    })
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.queue.run(fn)
  }

  private async loadState(): Promise<Record<string, SavedState>> {
    if (!this.state) {
      try {
        this.state = JSON.parse(await readFile(this.o.stateFile, 'utf8')) as Record<string, SavedState>
      } catch {
        this.state = {}
      }
    }
    return this.state
  }

  private async saved(name: string): Promise<SavedState> {
    const s = await this.loadState()
    return (s[name] ??= {})
  }

  private async save(): Promise<void> {
    const tmp = `${this.o.stateFile}.tmp`
    await writeFile(tmp, JSON.stringify(this.state ?? {}) + '\n', { mode: 0o600 })
    await rename(tmp, this.o.stateFile)
  }

  private async enabled(d: GuestLogDef): Promise<boolean> {
    if (d.type === 'SYS') return true
    return (await this.saved(d.name)).enabled === true
  }

  /** `<instance>/<datastore>-<log>` (upstream's object prefix without the slash). */
  private base(d: GuestLogDef): string {
    return `${this.o.instanceId}/${this.o.manager}-${d.name}`
  }

  /** The object store when it stands for `storageDir` (a sandbox). */
  private remote(): ObjectStore | undefined {
    const s = objectStore()
    return s?.o.storageDir && s.o.storageDir === this.o.storageDir ? s : undefined
  }

  private containerDir(): string | undefined {
    return this.o.storageDir ? join(this.o.storageDir, LOG_CONTAINER) : undefined
  }

  private async meta(d: GuestLogDef): Promise<Meta | undefined> {
    const c = this.containerDir()
    if (!c) return undefined
    const remote = this.remote()
    try {
      if (remote) {
        const body = await remote.get(LOG_CONTAINER, `${this.base(d)}_metafile`)
        if (!body) return undefined
        const parts: Buffer[] = []
        for await (const b of body) parts.push(b as Buffer)
        return JSON.parse(Buffer.concat(parts).toString('utf8')) as Meta
      }
      return JSON.parse(await readFile(join(c, `${this.base(d)}_metafile`), 'utf8')) as Meta
    } catch {
      return undefined
    }
  }

  private async show(d: GuestLogDef): Promise<GuestLogView> {
    const meta = await this.meta(d)
    const published = meta?.log_size ?? 0
    const size = await fileSize(d.file)
    const on = await this.enabled(d)
    const s = await this.saved(d.name)
    if (s.restartPid !== undefined) {
      const pid = this.o.enginePid()
      // The engine restarted (or was started) since the change: it is live now.
      if (pid !== undefined && pid !== s.restartPid) {
        delete s.restartPid
        await this.save()
      }
    }
    let status: string
    let pending = Math.max((size ?? 0) - published, 0)
    if (s.restartPid !== undefined) status = 'Restart Required'
    else if (!on) status = 'Disabled'
    else if (size === undefined) status = 'Unavailable'
    else if (published > 0 && (size < published || (await headerDigest(d.file)) !== meta?.log_header_digest)) {
      status = 'Rotated'
      pending = size
    } else if (size > published) status = published > 0 ? 'Partial' : 'Ready'
    else status = published > 0 ? 'Published' : 'Enabled'
    return {
      name: d.name,
      type: d.type,
      status,
      published,
      pending: size === undefined ? 0 : pending,
      container: published > 0 ? LOG_CONTAINER : 'None',
      prefix: published > 0 ? `${this.base(d)}/` : 'None',
      metafile: `${this.base(d)}_metafile`,
    }
  }

  /** Appends the unpublished bytes as objects of at most 1 MB; a rotated file starts over. */
  private async publish(d: GuestLogDef): Promise<void> {
    const c = this.containerDir()!
    const size = await fileSize(d.file)
    if (size === undefined) throw new GuestLogError('BadRequest', `Cannot publish log file '${d.name}' as it does not exist.`)
    let meta = await this.meta(d)
    const digest = await headerDigest(d.file)
    if (meta && meta.log_size > 0 && (size < meta.log_size || digest !== meta.log_header_digest)) {
      this.o.log(`guest log ${d.name}: rotation detected, discarding the published copy`)
      await this.discard(d)
      meta = undefined
    }
    const from = meta?.log_size ?? 0
    const dir = join(c, this.base(d))
    const remote = this.remote()
    const put = async (name: string, data: Buffer) => {
      if (remote) await remote.put(LOG_CONTAINER, name, data, () => createHash('md5').update(data).digest('hex'))
      else await writeFile(join(c, name), data, { mode: 0o600 })
    }
    if (!remote) await mkdirPrivate(dir, this.o.storageDir!)
    let offset = from
    if (size > from) {
      const fh = await open(d.file, 'r')
      try {
        let last = ''
        while (offset < size) {
          const n = Math.min(LOG_CHUNK_BYTES, size - offset)
          const buf = Buffer.alloc(n)
          const { bytesRead } = await fh.read(buf, 0, n, offset)
          if (bytesRead === 0) break
          last = objectName(last)
          await put(`${this.base(d)}/${last}`, buf.subarray(0, bytesRead))
          offset += bytesRead
        }
      } finally {
        await fh.close()
      }
    }
    const m: Meta = { log_name: d.name, log_type: d.type, log_file: d.file, log_size: offset, log_header_digest: digest }
    const metafile = join(c, `${this.base(d)}_metafile`)
    if (remote) await put(`${this.base(d)}_metafile`, Buffer.from(JSON.stringify(m) + '\n'))
    else {
      await writeFile(`${metafile}.tmp`, JSON.stringify(m) + '\n', { mode: 0o600 })
      await rename(`${metafile}.tmp`, metafile)
    }
    this.o.log(`guest log ${d.name}: published ${offset - from} bytes`)
  }

  /** Deletes every published object and the metafile. */
  private async discard(d: GuestLogDef): Promise<void> {
    const c = this.containerDir()!
    const remote = this.remote()
    if (remote) {
      await remote.remove(LOG_CONTAINER, `${this.base(d)}/`)
      await remote.remove(LOG_CONTAINER, `${this.base(d)}_metafile`)
      return
    }
    await rm(join(c, this.base(d)), { recursive: true, force: true })
    await rm(join(c, `${this.base(d)}_metafile`), { force: true })
  }
}

/** `log-<UTC timestamp with microseconds>`, strictly after `previous` (names sort in time order). */
function objectName(previous: string): string {
  const now = new Date()
  let name = `log-${now.toISOString().replace('Z', '')}000`
  // Two chunks in one millisecond: bump the sub-millisecond digits.
  while (name <= previous) {
    const micro = Number(previous.slice(-3)) + 1
    name = previous.slice(0, -3) + String(micro).padStart(3, '0')
  }
  return name
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const s = await stat(path)
    return s.isFile() ? s.size : undefined
  } catch {
    return undefined
  }
}

/** MD5 of the file's first line (at most 4 KB): tells a rotated file from a grown one. */
async function headerDigest(path: string): Promise<string> {
  try {
    const fh = await open(path, 'r')
    try {
      const buf = Buffer.alloc(HEADER_BYTES)
      const { bytesRead } = await fh.read(buf, 0, HEADER_BYTES, 0)
      const head = buf.subarray(0, bytesRead)
      const nl = head.indexOf(10)
      return createHash('md5')
        .update(nl >= 0 ? head.subarray(0, nl + 1) : head)
        .digest('hex')
    } finally {
      await fh.close()
    }
  } catch {
    return ''
  }
}

/** mkdir -p with every created level (below the store's root) 0700. */
async function mkdirPrivate(dir: string, root: string): Promise<void> {
  await mkdir(root, { recursive: true, mode: 0o700 })
  const missing: string[] = []
  for (let d = dir; d.startsWith(root + '/'); d = dirname(d)) missing.unshift(d)
  for (const d of missing) {
    await mkdir(d, { recursive: true, mode: 0o700 })
    await chmod(d, 0o700)
  }
}
