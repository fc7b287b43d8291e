import { createHash, randomBytes } from 'node:crypto'
import { chownSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { delimiter, dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { INSTANCE_FILES, type AgentBootstrap, type EngineManager } from '../../protocol/index.js'
import type { LaunchSpec } from './compute.js'
import { VOLUME_MOUNT } from './oci-config.js'
import { createSandbox, destroySandbox, type SandboxRuntime } from './sandbox.js'
import type { OciSeccomp } from './seccomp.js'
import { runTool } from './tool.js'
import { allocateUid, releaseUid, type UidOptions } from './uids.js'

/**
 * The lab's pre-initialised data dirs for sandboxed MariaDB and PostgreSQL (docs/isolation.md, *Template
 * copy*). A sandbox cannot see the lab's template cache (DIR/templates, the `none` agents'), and install-db
 * or initdb inside each new sandbox costs ~6 s here. So the server makes one template per engine and
 * version in a sandbox of its own (a uid of the range, a scratch dir as its volume, no network): the agent
 * binary in `--make-template` mode, which runs the engine's init as a template cache would and exits. No
 * tenant ever runs anything there, so what it leaves is trusted; the server takes it (root's from then on,
 * DIR/sandbox/templates, 0700) and copies it into each new instance's volume before its sandbox starts,
 * chowned to the instance's uid (`cp -a`, `chown -R`: one process each, no hand-written tree walk).
 * What the copy shares between instances: no credential (install-db's only account is the agent's
 * unix_socket one, initdb's the agent's `trust` on the socket; every password comes with the create-time
 * payload, after the first start), and PostgreSQL's system identifier, as the `none` template does
 * (postgresql/service.ts says why that is fine). Templates are made again in each server run (the first
 * create of an engine starts the build and initialises itself meanwhile), so an upgraded engine never
 * starts from an old one's files.
 *
 * A shared dir (ServerOptions.sandboxTemplatesDir: a test suite's labs, one host) is kept instead: a
 * template there is named by a fingerprint of what shapes it (the engine's program and the agent's code
 * that inits it, by size, mtime and inode), so a changed engine or agent never takes an older one; labs
 * that build one at once each build in a dir of their own and publish by rename(), the loser dropping its
 * copy. The dir must be root's, 0700 (it is checked): only root's labs write or read it.
 */

/** Engines whose data dir is made by an init command. */
const TEMPLATED: ReadonlySet<EngineManager> = new Set(['mariadb', 'postgresql'])
/** The longest a template build may take (install-db on a busy 2-core host: ~20 s). */
const BUILD_MS = 180_000

export interface SandboxTemplatesOptions {
  /** DIR/sandbox/templates (made here, root 0700; emptied at start), or a shared dir (`shared`). */
  dir: string
  /** `dir` is shared with other labs of this host: kept at start, templates named by fingerprint. */
  shared?: boolean
  runtime: SandboxRuntime
  seccomp: OciSeccomp | undefined
  uids?: UidOptions | undefined
  /** The agent's command before `agent` (node, its flags, bin/trove) and what the sandbox must bind for it. */
  agentCommand: string[]
  agentBinds: () => Array<{ source: string; destination: string }>
  env: string[]
  log: (m: string) => void
  /** The driver's sweep running, if one does: a build waits for it before it makes its parts (SandboxedCompute.sweeping). */
  sweeping?: () => Promise<unknown> | undefined
}

const nameOf = (manager: EngineManager, version: string) => `${manager}-${version.replace(/[^A-Za-z0-9._-]/g, '_')}`

export class SandboxTemplates {
  private readonly builds = new Map<string, Promise<void>>()
  /** The builders' sandbox ids while they run (kept by the sweep, ended by stop). */
  readonly building = new Set<string>()

  constructor(private readonly o: SandboxTemplatesOptions) {
    if (!o.shared) rmSync(o.dir, { recursive: true, force: true })
    mkdirSync(o.dir, { recursive: true, mode: 0o700 })
    if (o.shared) {
      const st = lstatSync(o.dir)
      if (!st.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o077) !== 0) throw new Error(`sandbox templates dir ${o.dir}: must be a directory of this user's, mode 0700`)
    }
  }

  /** The template's name: engine and version, and in a shared dir the fingerprint of what makes it. */
  private nameFor(boot: LaunchSpec): string {
    const { manager, version } = boot.datastore
    return this.o.shared ? `${nameOf(manager, version)}-${fingerprint(boot, this.o.agentCommand)}` : nameOf(manager, version)
  }

  /** The ready template for this engine and version, if there is one; else its build is started (once per run). */
  take(boot: LaunchSpec): string | undefined {
    if (!TEMPLATED.has(boot.datastore.manager) || boot.prepare.restore || boot.prepare.replica) return undefined
    const key = this.nameFor(boot)
    const path = join(this.o.dir, key)
    if (existsSync(path)) return path
    if (!this.builds.has(key)) {
      const build = this.build(boot, path).catch((e: Error) => {
        this.o.log(`sandbox template ${key}: not made (${e.message}); instances initialise their own`)
        // Tried again at a later create.
        this.builds.delete(key)
      })
      this.builds.set(key, build)
    }
    return undefined
  }

  /** Ends the builds under way (server stop): each cleans up after itself. */
  stop(): void {
    for (const id of this.building) void destroySandbox(this.o.runtime, id).catch(() => undefined)
  }

  /** Waits for the builds under way (tests, lab removal). */
  async settled(): Promise<void> {
    await Promise.all(this.builds.values())
  }

  /**
   * Copies the template into the fresh volume's data dir (`<mountPoint>/data`, made here), owned by the
   * instance's uid; false (nothing left in the volume) when the template went away meanwhile (a shared dir
   * removed by its owner): the agent then initialises. The volume was never used: no process of the
   * instance has run, so nothing in it can be a link planted for root to follow.
   */
  async copyInto(template: string, mountPoint: string, uid: number, gid: number): Promise<boolean> {
    const data = join(mountPoint, INSTANCE_FILES.dataDir)
    if (lstatSync(data, { throwIfNoEntry: false })) throw new Error(`sandbox template: ${data} exists (not a fresh volume)`)
    mkdirSync(data, { mode: 0o700 })
    try {
      await runTool('cp', ['-a', '--sparse=always', '--', `${template}/.`, `${data}/`])
    } catch (e) {
      if (existsSync(template)) throw e
      rmSync(data, { recursive: true, force: true })
      this.o.log(`sandbox template ${template}: gone while copied; the instance initialises its own`)
      return false
    }
    await runTool('chown', ['-R', '--no-dereference', `${uid}:${gid}`, '--', data])
    return true
  }

  /** Runs the agent's `--make-template` in a sandbox of its own, then takes its output as root's. */
  private async build(boot: LaunchSpec, path: string): Promise<void> {
    const t0 = performance.now()
    for (let s = this.o.sweeping?.(); s; s = this.o.sweeping?.()) await s
    // From the check to building.add: no await (a sweep starting meanwhile would not know the build's id).
    const id = `tpl-${boot.datastore.manager}-${randomBytes(4).toString('hex')}`
    const work = join(this.o.dir, `.${id}`)
    const vol = join(work, 'vol')
    mkdirSync(vol, { recursive: true, mode: 0o700 })
    const ids = allocateUid(work, this.o.uids)
    this.building.add(id)
    try {
      chownSync(vol, ids.uid, ids.gid)
      const b: AgentBootstrap = {
        ...boot,
        instanceId: id,
        baseDir: VOLUME_MOUNT,
        cgroups: [],
        mqtt: { username: '', password: '' },
        brokerFile: '',
        address: '127.0.0.1',
        runUser: 'trove',
        prepare: { databases: [], users: [] },
      }
      // The bootstrap is the template uid's, in a directory nothing else has seen.
      writeFileSync(join(vol, INSTANCE_FILES.bootstrap), JSON.stringify(b), { mode: 0o600, flag: 'wx' })
      chownSync(join(vol, INSTANCE_FILES.bootstrap), ids.uid, ids.gid)
      const state = await createSandbox(this.o.runtime, {
        id,
        bundleDir: join(work, 'bundle'),
        uid: ids.uid,
        gid: ids.gid,
        volumeDir: vol,
        limits: { memoryBytes: 1024 * 1024 * 1024, cpus: 1, pids: 1024 },
        args: [...this.o.agentCommand, 'agent', '--make-template', '--config', `${VOLUME_MOUNT}/${INSTANCE_FILES.bootstrap}`],
        env: this.o.env,
        logFile: join(work, 'build.log'),
        seccomp: this.o.seccomp,
        extraBinds: this.o.agentBinds(),
      })
      // The agent is the sandbox's init: its end is the sandbox's.
      const deadline = Date.now() + BUILD_MS
      while (running(state.pid) && Date.now() < deadline) await sleep(100)
      if (running(state.pid)) throw new Error(`not done in ${BUILD_MS / 1000} s`)
      const made = join(vol, 'templates')
      const keys = existsSync(made) ? readdirSync(made).filter((n) => !n.startsWith('.')) : []
      if (keys.length !== 1) throw new Error(lastLine(join(work, 'build.log')) || 'the template maker left no template')
      // In the work dir (same filesystem), so that only a complete template ever has the final name.
      const tmp = join(work, 'template')
      renameSync(join(made, keys[0]!), tmp)
      await runTool('chown', ['-R', '--no-dereference', '0:0', '--', tmp])
      try {
        renameSync(tmp, path)
      } catch (e) {
        // Another lab sharing the dir published the same template first (rename onto a non-empty dir): theirs is used.
        if (!existsSync(path)) throw e
        this.o.log(`sandbox template ${keys[0]}: another lab published it first; using theirs`)
        return
      }
      this.o.log(`sandbox template ${keys[0]} made in ${Math.round(performance.now() - t0)} ms`)
    } finally {
      this.building.delete(id)
      await destroySandbox(this.o.runtime, id, join(work, 'bundle')).catch(() => undefined)
      releaseUid(ids, work, this.o.uids)
      rmSync(work, { recursive: true, force: true })
    }
  }
}

/**
 * What shapes a template, for a shared dir: the engine's program and the agent's code that makes it (its
 * template cache and the engine's datastore module), each by path, size, mtime and inode; any change (an
 * upgraded engine, a rebuilt agent) names a new template.
 */
function fingerprint(boot: LaunchSpec, agentCommand: readonly string[]): string {
  const { manager, binDir } = boot.datastore
  const program = manager === 'postgresql' && binDir ? join(binDir, 'postgres') : onPath(manager === 'postgresql' ? 'postgres' : 'mariadbd')
  // bin/trove runs dist/cli/main.js; the agent's code is dist/agent (scripts/build.mjs).
  const agentDir = join(dirname(agentCommand.at(-1) ?? ''), '..', 'dist', 'agent')
  const dsDir = join(agentDir, 'datastores', manager)
  const files = [program, join(agentDir, 'template-cache.js'), join(agentDir, 'template-maker.js'), ...(existsSync(dsDir) ? readdirSync(dsDir).map((f) => join(dsDir, f)) : [])]
  const h = createHash('sha256').update(JSON.stringify(boot.datastore))
  for (const f of files) {
    const st = f ? statSync(f, { throwIfNoEntry: false }) : undefined
    h.update(`\0${f}:${st ? `${st.size}:${st.mtimeMs}:${st.ino}` : '-'}`)
  }
  return h.digest('hex').slice(0, 12)
}

/** The first `name` on PATH (and the sbin dirs, where Debian puts mariadbd), or '' when there is none. */
function onPath(name: string): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'].filter(Boolean)
  return dirs.map((d) => join(d, name)).find((p) => existsSync(p)) ?? ''
}

/** A pid that runs (neither gone nor a zombie). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX]/s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

function lastLine(file: string): string {
  try {
    return (
      readFileSync(file, 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean)
        .pop() ?? ''
    )
  } catch {
    return ''
  }
}
