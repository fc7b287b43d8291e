import { chmod, mkdir, readFile, readdir } from 'node:fs/promises'
import { replaceFile } from '../replace-file.js'
import { join } from 'node:path'
import type { ModuleRpc, RpcModuleResult, RpcModuleSpec } from '../../protocol/index.js'
import type { Log } from '../log.js'
import { RpcFailure } from '../rpc-failure.js'
import type { Handlers } from './types.js'

/** Directory in the instance dir holding applied modules (upstream's ~/modules). */
export const MODULES_DIR = 'modules'
const ALL = 'all'

/** A module as the server sends it (upstream's module view, decrypted contents). */
type ModuleSpec = RpcModuleSpec

/** result.json (internals.md 3.6): what module_list returns. */
export type ModuleResult = RpcModuleResult

/** A module driver: applies the decoded contents file; [ok, message]. */
type Driver = {
  apply(m: ModuleSpec, contentsFile: string, dir: string): Promise<[boolean, string]>
  remove(m: ModuleSpec, dir: string): Promise<[boolean, string]>
}

/** key=value (or key: value) lines, as upstream's KeyValueCodec reads the contents. */
function keyValues(text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of text.split('\n')) {
    const m = /^\s*([^=:#\s][^=:]*?)\s*[=:]\s*(.*?)\s*$/.exec(line)
    if (m) out.set(m[1]!.toLowerCase(), m[2]!.replace(/^(['"])(.*)\1$/, '$2'))
  }
  return out
}

/** Upstream's drivers (module_types ping, new_relic_license). */
const DRIVERS: Record<string, Driver> = {
  // ping: the message in the contents is the result (upstream PingDriver).
  ping: {
    async apply(_m, file) {
      const message = keyValues(await readFile(file, 'utf8')).get('message')
      return message !== undefined ? [true, message] : [false, 'Message not found in contents file']
    },
    async remove() {
      return [true, '']
    },
  },
  // new_relic_license: upstream writes the key into the New Relic agent's config and
  // starts that agent; the lab has none, so the config file is written beside the module.
  new_relic_license: {
    async apply(_m, file, dir) {
      const text = await readFile(file, 'utf8')
      const key = keyValues(text).get('license_key') ?? text.trim().split('\n')[0]?.trim()
      if (!key) return [false, 'License key not found in contents file']
      await replaceFile(join(dir, 'newrelic.cfg'), `license_key=${key}\n`)
      return [true, 'License key written']
    },
    async remove(_m, dir) {
      await replaceFile(join(dir, 'newrelic.cfg'), '')
      return [true, 'License key removed']
    },
  },
}

/**
 * The client sends contents base64-encoded and the guest stores them decoded
 * (upstream's Base64Codec); text that is not base64 is kept as is.
 */
function decodeContents(contents: string): Buffer {
  const compact = contents.replace(/\s+/g, '')
  if (compact.length > 0 && compact.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(compact)) return Buffer.from(compact, 'base64')
  return Buffer.from(contents, 'utf8')
}

const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, '')

function checkSpec(v: unknown): ModuleSpec {
  const m = (v as { module?: unknown } | undefined)?.module ?? v
  const s = m as Partial<ModuleSpec> | undefined
  if (!s || typeof s !== 'object' || typeof s.id !== 'string' || !/^[A-Za-z0-9-]{1,64}$/.test(s.id) || typeof s.type !== 'string' || typeof s.name !== 'string')
    throw new RpcFailure('BadRequest', 'a module needs an id, a name and a type')
  if (!/^[a-z_]{1,64}$/.test(s.type)) throw new RpcFailure('BadRequest', `module type '${s.type}' is not valid`)
  return s as ModuleSpec
}

/**
 * Modules applied by the guest (internals.md 3.6): BASE/modules/<type>/<id>/ holds
 * contents.dat (the decoded contents) and result.json, dirs 0700 and files 0600.
 */
export class ModuleManager {
  private queue: Promise<unknown> = Promise.resolve()

  constructor(
    private readonly baseDir: string,
    private readonly log: Log,
  ) {}

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn)
    this.queue = run.catch(() => undefined)
    return run
  }

  private dir(type: string, id: string): string {
    return join(this.baseDir, MODULES_DIR, type, id)
  }

  /** module_apply: in priority order, then apply_order; each gets a result, OK or ERROR. */
  apply(specs: unknown): Promise<ModuleResult[]> {
    if (!Array.isArray(specs)) throw new RpcFailure('BadRequest', 'modules must be a list')
    const list = specs.map(checkSpec)
    list.sort((a, b) => Number(!!b.priority_apply) - Number(!!a.priority_apply) || (a.apply_order ?? 5) - (b.apply_order ?? 5))
    return this.serial(async () => {
      const out: ModuleResult[] = []
      for (const m of list) out.push(await this.applyOne(m))
      return out
    })
  }

  private async applyOne(m: ModuleSpec): Promise<ModuleResult> {
    const dir = this.dir(m.type, m.id)
    for (const d of [join(this.baseDir, MODULES_DIR), join(this.baseDir, MODULES_DIR, m.type), dir]) {
      await mkdir(d, { recursive: true, mode: 0o700 })
      await chmod(d, 0o700)
    }
    const file = join(dir, 'contents.dat')
    await replaceFile(file, decodeContents(typeof m.contents === 'string' ? m.contents : ''))
    const previous = await this.readResult(dir)
    const time = now()
    let ok = false
    let message: string
    const driver = DRIVERS[m.type]
    try {
      if (!driver) throw new Error(`Module type '${m.type}' is not supported by this guest`)
      ;[ok, message] = await driver.apply(m, file, dir)
    } catch (err) {
      message = (err as Error).message
    }
    const result: ModuleResult = {
      id: m.id,
      name: m.name,
      type: m.type,
      datastore: m.datastore || ALL,
      datastore_version: m.datastore_version || ALL,
      tenant: m.tenant || ALL,
      auto_apply: !!m.auto_apply,
      visible: m.visible !== false,
      is_admin: !!m.is_admin,
      md5: m.md5,
      status: ok ? 'OK' : 'ERROR',
      message,
      created: previous && !previous.removed ? previous.created : time,
      updated: time,
      removed: null,
    }
    await this.writeResult(dir, result)
    this.log(`module ${m.id} (${m.type}) applied: ${result.status}`)
    return result
  }

  /** module_list: the modules applied and not removed; contents (base64) on request. */
  list(includeContents: boolean): Promise<ModuleResult[]> {
    return this.serial(async () => {
      const out: ModuleResult[] = []
      const root = join(this.baseDir, MODULES_DIR)
      for (const type of await readdir(root).catch(() => [] as string[])) {
        for (const id of await readdir(join(root, type)).catch(() => [] as string[])) {
          const dir = join(root, type, id)
          const r = await this.readResult(dir)
          if (!r || r.removed) continue
          if (includeContents) r.contents = (await readFile(join(dir, 'contents.dat')).catch(() => Buffer.alloc(0))).toString('base64')
          out.push(r)
        }
      }
      return out.sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : a.name < b.name ? -1 : 1))
    })
  }

  /** module_remove: the driver undoes it, the result is marked removed. */
  remove(spec: unknown): Promise<void> {
    const m = checkSpec(spec)
    return this.serial(async () => {
      const dir = this.dir(m.type, m.id)
      const r = await this.readResult(dir)
      if (!r) throw new RpcFailure('NotFound', `No previous result found for module '${m.id}' on this instance.`)
      const driver = DRIVERS[m.type]
      if (driver) await driver.remove(m, dir)
      r.removed = now()
      r.updated = r.removed
      await this.writeResult(dir, r)
      this.log(`module ${m.id} (${m.type}) removed`)
    })
  }

  private async readResult(dir: string): Promise<ModuleResult | undefined> {
    try {
      return JSON.parse(await readFile(join(dir, 'result.json'), 'utf8')) as ModuleResult
    } catch {
      return undefined
    }
  }

  private async writeResult(dir: string, r: ModuleResult): Promise<void> {
    const file = join(dir, 'result.json')
    await replaceFile(file, JSON.stringify(r) + '\n')
  }
}

/** module_apply(modules), module_list(include_contents), module_remove(module) (internals.md 2). */
export function moduleMethods(manager: () => ModuleManager): Handlers<ModuleRpc> {
  return {
    module_apply: (args) => manager().apply(args.modules),
    module_list: (args) => manager().list(args.include_contents === true || args.include_contents === 1),
    module_remove: async (args) => {
      await manager().remove(args.module)
      return null
    },
  }
}
