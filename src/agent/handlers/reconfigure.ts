import type { AgentBootstrap, FilesystemStats, FlavorSpec, ReconfigureRpc, RpcRequest, UpgradeSpec } from '../../protocol/index.js'
import type { Datastore } from '../datastores/types.js'
import type { Log } from '../log.js'
import { RpcFailure } from '../rpc-failure.js'
import type { Handlers } from './types.js'
import { GB } from '../../common/units.js'

/** What the resize/upgrade methods (and update_access, access.ts) act on: the supervisor's bootstrap and its maintenance(). */
export interface Reconfigurable {
  /** The bootstrap object the engine drivers read (changed in place). */
  readonly config: AgentBootstrap
  maintenance<T>(fn: (ds: Datastore) => Promise<T>, opts?: { stopped?: boolean; timeoutMs?: number }): Promise<T>
  filesystemStats(): Promise<FilesystemStats>
  log: Log
}

export function bad(message: string): never {
  throw new RpcFailure('BadRequest', message)
}

function flavorArg(v: unknown): FlavorSpec {
  const f = (v ?? {}) as Partial<FlavorSpec>
  if (!Number.isInteger(f.ramMb) || f.ramMb! < 64 || !Number.isInteger(f.vcpus) || f.vcpus! < 1) bad('flavor must be {ramMb: integer >= 64, vcpus: integer >= 1}')
  return { ramMb: f.ramMb!, vcpus: f.vcpus! }
}

function rewriter(ds: Datastore): () => Promise<void> {
  if (!ds.rewriteConfig) throw new RpcFailure('NotSupported', `${ds.name} cannot re-render its configuration`)
  return () => ds.rewriteConfig!()
}

/**
 * Resize (internals.md 1.2) and upgrade (2): the server has already
 * rewritten agent.json; these methods change the running agent's bootstrap (the
 * same object the engine drivers read), render the engine's config again and
 * restart or reload it.
 *
 * - start_db_with_conf_changes {flavor} / reset_configuration {flavor}: memory
 *   settings for that flavor; the engine is stopped, its config rendered, started
 *   and waited for (maintenance with stopped). Upstream sends the rendered config;
 *   here the agent renders it itself, as it does at prepare, from the flavor.
 * - resize_fs {volumeSize}: in a sandbox the server has already grown the volume's
 *   filesystem, and the stats are its statfs figures (fs-stats.ts volumeStats). Otherwise
 *   the volume is a directory of the host's filesystem, so
 *   there is nothing to grow; its size is the agent's notion of the allotment
 *   (get_filesystem_stats' total, the API's used_percent). Not enforced: a per-
 *   directory limit needs project quotas or a loop device, neither available to a
 *   lab; usage beyond the size is logged at each resize and visible in `instance show`.
 * - pre_upgrade / upgrade {datastore} / post_upgrade: the engine restarted on the
 *   new version's binaries (stop, switch, start). A real major upgrade would also
 *   run pg_upgrade / mariadb-upgrade on the data dir; this machine has one version
 *   per engine, so versions differ in name only and the data needs nothing.
 */
export function reconfigureMethods(target: () => Reconfigurable): Handlers<ReconfigureRpc> {
  const confChange = async (args: { readonly flavor?: unknown }, timeoutMs: RpcRequest['timeoutMs']): Promise<null> => {
    const t = target()
    const flavor = flavorArg(args.flavor)
    await t.maintenance(
      async (ds) => {
        const rewrite = rewriter(ds)
        t.config.flavor = flavor
        await rewrite()
        t.log(`config rendered for ${flavor.ramMb} MB RAM, ${flavor.vcpus} vCPU(s)`)
      },
      { stopped: true, ...(timeoutMs ? { timeoutMs } : {}) },
    )
    return null
  }
  return {
    start_db_with_conf_changes: (args, req) => confChange(args, req.timeoutMs),
    reset_configuration: (args, req) => confChange(args, req.timeoutMs),
    resize_fs: async (args) => {
      const t = target()
      const size = args.volumeSize
      if (!Number.isInteger(size) || (size as number) < 1) bad('volumeSize must be a positive integer (GB)')
      t.config.volumeSize = size as number
      const stats = await t.filesystemStats()
      if (stats.used * GB > (size as number) * GB) t.log(`volume: ${stats.used} GB used, more than the ${String(size)} GB allotted`)
      t.log(`volume size is now ${String(size)} GB (${stats.used} GB used)`)
      return stats
    },
    pre_upgrade: async () => {
      const d = target().config.datastore
      return { version: d.version, ...(d.binDir ? { binDir: d.binDir } : {}) }
    },
    upgrade: async (args, req) => {
      const t = target()
      const spec = (args.datastore ?? {}) as Partial<UpgradeSpec>
      if (typeof spec.version !== 'string' || spec.version === '') bad('datastore.version must be a non-empty string')
      if (spec.binDir !== undefined && (typeof spec.binDir !== 'string' || !spec.binDir.startsWith('/'))) bad('datastore.binDir must be an absolute path')
      await t.maintenance(
        async (ds) => {
          const rewrite = rewriter(ds)
          const d = t.config.datastore
          d.version = spec.version!
          if (spec.binDir) d.binDir = spec.binDir
          else delete d.binDir
          await rewrite()
          t.log(`datastore version is now ${d.version}${d.binDir ? ` (${d.binDir})` : ''}`)
        },
        { stopped: true, ...(req.timeoutMs ? { timeoutMs: req.timeoutMs } : {}) },
      )
      return null
    },
    post_upgrade: async () => null,
  }
}
