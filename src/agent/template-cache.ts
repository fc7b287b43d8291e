import { createHash, randomBytes } from 'node:crypto'
import type { ChildProcess } from 'node:child_process'
import { chmod, chown, mkdir, open, readFile, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { EngineManager } from '../protocol/index.js'
import type { Datastore, RunUser } from './datastores/types.js'
import { ENGINE_ENV, isAlive, lastMatchingLine, oneLine, runTool, type ToolResult } from './engine-process.js'
import type { Log } from './log.js'

/**
 * Pre-initialised data dirs shared by the agents of one lab (bootstrap.templateDir):
 * prepare copies `<dir>/<key>` instead of running initdb/mariadb-install-db, which cost
 * 0.5-1.2 s of fsync-heavy work per create. The key hashes everything that makes init
 * output differ, so a template is only ever used by instances it is right for; a
 * template of a foreign or stale key is simply never looked at.
 *
 * A template is made in `.<key>.tmp-<pid>-<random>` and published with rename(), which
 * is atomic: the final name only ever holds a complete, synced template. Agents that
 * make the same template at once race on the rename; the losers drop their copy.
 */

/** Bump when the layout or template.json changes: older templates are then unused. */
export const TEMPLATE_FORMAT = 1
export const TEMPLATE_INFO = 'template.json'
/** Stands for the data dir in the key's ingredients (the template's real path varies). */
const DATA_DIR = '@DATADIR@'
/** Leftovers of an agent that died while making or evicting a template. */
const SCRATCH = /^\..+\.(tmp|bad)-(\d+)-[0-9a-f]+(\.cnf)?$/

/** Everything that shapes the files an engine's init writes. */
export interface TemplateIngredients {
  format: number
  manager: EngineManager
  /** The exact version line of the program that writes the files. */
  version: string
  /** Owner of the files (the copy keeps uids, so a template is per run user). */
  runUser: RunUser
  env: Record<string, string>
  init: { file: string; args: string[]; asUser: boolean }
  files: Array<{ path: string; text: string }>
  extra: Record<string, string>
}

/** template.json: what the template is, and who made it when. */
export interface TemplateInfo {
  key: string
  ingredients: TemplateIngredients
  created: string
  createdBy: { instanceId: string; pid: number }
  initMs: number
}

export interface TemplateIdentity {
  key: string
  ingredients: TemplateIngredients
}

/** A template ready to copy; `built` when this agent made it. */
export interface ReadyTemplate extends TemplateIdentity {
  path: string
  built: boolean
}

/** JSON with sorted keys: the same ingredients always hash alike. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`
  }
  return JSON.stringify(value)
}

/** `<manager>-<16 hex digits of sha256>`: short, stable, and says what it is to a human. */
export function templateKey(ingredients: TemplateIngredients): string {
  return `${ingredients.manager}-${createHash('sha256').update(canonicalJson(ingredients)).digest('hex').slice(0, 16)}`
}

/** A version line without the program's path (`/usr/sbin/mariadbd  Ver 10.11...` -> `Ver 10.11...`). */
export function versionLine(output: string): string | undefined {
  const line = output.split('\n').find((l) => l.trim() !== '')
  return line?.trim().replace(/^\/\S+\s+/, '') || undefined
}

/** Version lines by command, for the agent's lifetime: the binary does not change under a running agent often enough to matter. */
const versions = new Map<string, Promise<string>>()

/**
 * fsyncs every file and directory under `root` (and root itself). A copy is otherwise
 * only in the page cache, and the engine never syncs files it does not modify (e.g. the
 * catalogs of an empty PostgreSQL): a host crash in the next ~30 s would leave an
 * instance with empty or missing system files. coreutils' `sync FILE...` does it in a
 * child process: the same walk in the agent grows its RSS by ~8 MB for PostgreSQL's
 * ~1000 files (V8's heap after the burst), against its 60 MB budget. It may run while
 * the engine starts: a file the engine removed meanwhile (PostgreSQL drops
 * pg_stat/pgstat.stat) needs no sync.
 */
export async function syncTree(root: string, user: RunUser, track?: (child: ChildProcess | undefined) => void): Promise<void> {
  // Eight syncs at a time: about twice as fast as one after another (the device queues them).
  const script = 'find "$1" \\( -type f -o -type d \\) -print0 | xargs -0 -r -P 8 -n 64 sync --'
  const r = await runTool({ file: 'sh', args: ['-c', script, 'sh', root], asUser: false }, user, track)
  await syncDir(root) // and a vanished root is an error, not a file the engine removed
  const problems = r.output.split('\n').filter((l) => l.trim() !== '' && !/No such file or directory/.test(l))
  // xargs exits with 123 when a sync failed: fine if only for vanished files.
  if (problems.length > 0 || r.signal || (r.code !== 0 && r.code !== 123)) throw new Error(`sync failed: ${oneLine(problems.at(-1) ?? (r.signal ? `killed by ${r.signal}` : `exit code ${r.code}`))}`)
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code
}

function toolFault(file: string, r: ToolResult): Error {
  const why = lastMatchingLine(r.output, /\S/) ?? `exit code ${r.code ?? r.signal}`
  return new Error(`${file} failed: ${why}`)
}

export interface TemplateCacheOptions {
  dir: string
  manager: EngineManager
  user: RunUser
  instanceId: string
  log: Log
  /** Receives each child process, so a closing agent can stop it. */
  track?: (child: ChildProcess | undefined) => void
}

export class TemplateCache {
  constructor(private readonly o: TemplateCacheOptions) {}

  /** fsyncs a copied data dir (see syncTree). */
  sync(dataDir: string): Promise<void> {
    return syncTree(dataDir, this.o.user)
  }

  /** The key for this engine's init as it is configured now (reads the version once per agent). */
  async identify(ds: Datastore): Promise<TemplateIdentity> {
    if (!ds.versionCommand || !ds.templateInit) throw new Error(`${ds.name} has no init templates`)
    const versionCmd = await ds.versionCommand()
    const id = JSON.stringify(versionCmd)
    let version = versions.get(id)
    if (!version) {
      version = runTool(versionCmd, this.o.user).then((r) => {
        const line = r.code === 0 ? versionLine(r.output) : undefined
        if (!line) throw toolFault(`${versionCmd.file} --version`, r)
        return line
      })
      versions.set(id, version)
      version.catch(() => versions.delete(id))
    }
    const init = await ds.templateInit(DATA_DIR)
    const { name, uid, gid } = this.o.user
    const ingredients: TemplateIngredients = {
      format: TEMPLATE_FORMAT,
      manager: this.o.manager,
      version: await version,
      runUser: { name, uid, gid },
      env: { ...ENGINE_ENV },
      init: { file: init.command.file, args: init.command.args, asUser: init.command.asUser },
      files: init.files,
      extra: init.extra,
    }
    return { key: templateKey(ingredients), ingredients }
  }

  /** Why `<dir>/<key>` cannot be used, 'missing' when it does not exist, or undefined when it is fine. */
  async check(id: TemplateIdentity): Promise<string | undefined> {
    const path = join(this.o.dir, id.key)
    let st
    try {
      st = await stat(path)
    } catch (err) {
      if (errCode(err) === 'ENOENT') return 'missing'
      throw err
    }
    if (!st.isDirectory()) return 'not a directory'
    if (st.uid !== this.o.user.uid || (st.mode & 0o777) !== 0o700) return `owner/mode ${st.uid}/${(st.mode & 0o777).toString(8)}, not ${this.o.user.uid}/700`
    let info: Partial<TemplateInfo>
    try {
      info = JSON.parse(await readFile(join(path, TEMPLATE_INFO), 'utf8')) as Partial<TemplateInfo>
    } catch (err) {
      return `${TEMPLATE_INFO} unreadable (${errCode(err) ?? oneLine((err as Error).message, 80)})`
    }
    if (info.key !== id.key || canonicalJson(info.ingredients) !== canonicalJson(id.ingredients)) return `${TEMPLATE_INFO} does not match the key`
    return undefined
  }

  /** The template for this engine, made (and published) first if there is none. */
  async provide(ds: Datastore, id: TemplateIdentity): Promise<ReadyTemplate> {
    const path = join(this.o.dir, id.key)
    const problem = await this.check(id)
    if (problem === undefined) return { ...id, path, built: false }
    if (problem !== 'missing') {
      this.o.log(`template ${id.key}: ${problem}; replacing it`)
      await this.evict(id.key)
    }
    const tmp = await this.build(ds, id)
    let won: boolean
    try {
      await rename(tmp, path)
      won = true
    } catch (err) {
      // Another agent published the same key first (rename onto a non-empty dir).
      if (errCode(err) !== 'ENOTEMPTY' && errCode(err) !== 'EEXIST') {
        await rm(tmp, { recursive: true, force: true })
        throw err
      }
      won = false
    }
    if (won) {
      await syncDir(this.o.dir)
      this.o.log(`template ${id.key} published`)
      return { ...id, path, built: true }
    }
    await rm(tmp, { recursive: true, force: true })
    const again = await this.check(id)
    if (again !== undefined) throw new Error(`template ${id.key} published by another agent: ${again}`)
    this.o.log(`template ${id.key} was published by another agent first; using it`)
    return { ...id, path, built: false }
  }

  /** Runs the init command into a fresh scratch dir, adds template.json and syncs it all. */
  private async build(ds: Datastore, id: TemplateIdentity): Promise<string> {
    await this.sweep()
    const { uid, gid } = this.o.user
    const tmp = join(this.o.dir, `.${id.key}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`)
    const init = await ds.templateInit!(tmp)
    await mkdir(tmp, { mode: 0o700 })
    try {
      await chown(tmp, uid, gid)
      await chmod(tmp, 0o700)
      for (const f of init.files) await writeFile(f.path, f.text, { mode: 0o600, flag: 'wx' })
      const t0 = Date.now()
      const r = await runTool(init.command, this.o.user, this.o.track)
      if (r.code !== 0) throw toolFault(init.command.file, r)
      const initMs = Date.now() - t0
      const info: TemplateInfo = {
        key: id.key,
        ingredients: id.ingredients,
        created: new Date().toISOString(),
        createdBy: { instanceId: this.o.instanceId, pid: process.pid },
        initMs,
      }
      await writeFile(join(tmp, TEMPLATE_INFO), JSON.stringify(info, null, 2) + '\n', { mode: 0o644 })
      await syncTree(tmp, this.o.user, this.o.track)
      this.o.log(`template ${id.key}: initialised in ${initMs} ms`)
      return tmp
    } catch (err) {
      await rm(tmp, { recursive: true, force: true })
      throw err
    } finally {
      for (const f of init.files) await rm(f.path, { force: true })
    }
  }

  /**
   * Copies the template into the (empty) data dir with `cp -a`: one process, ownership,
   * modes and times kept, reflinks where the file system has them. The data dir then
   * gets its own owner and 0700 back (cp -a copies the template root's attributes) and
   * loses template.json.
   */
  async copyInto(template: string, dataDir: string): Promise<void> {
    const r = await runTool({ file: 'cp', args: ['-a', '--reflink=auto', '--', `${template}/.`, `${dataDir}/`], asUser: false }, this.o.user, this.o.track)
    if (r.code !== 0) throw toolFault('cp', r)
    await unlink(join(dataDir, TEMPLATE_INFO))
    await chown(dataDir, this.o.user.uid, this.o.user.gid)
    await chmod(dataDir, 0o700)
  }

  /**
   * Takes a template out of use: renamed away first (atomic, so nobody starts a new
   * copy of it), then deleted. An agent copying it at this moment fails its copy and
   * falls back to a normal init.
   */
  async evict(key: string): Promise<void> {
    const gone = join(this.o.dir, `.${key}.bad-${process.pid}-${randomBytes(4).toString('hex')}`)
    try {
      await rename(join(this.o.dir, key), gone)
    } catch (err) {
      if (errCode(err) === 'ENOENT') return
      throw err
    }
    await rm(gone, { recursive: true, force: true })
  }

  /** Removes scratch dirs (and their cnf files) of agents that are gone. */
  private async sweep(): Promise<void> {
    for (const name of await readdir(this.o.dir).catch(() => [] as string[])) {
      const m = SCRATCH.exec(name)
      if (!m || Number(m[2]) === process.pid || (await isAlive(Number(m[2])))) continue
      await rm(join(this.o.dir, name), { recursive: true, force: true }).catch(() => undefined)
    }
  }
}
