import { waitFor, type Backup, type Instance, type TroveClient } from '../../sdk/index.js'
import type { CommandContext } from '../spec.js'
import { CliError } from '../errors.js'

/** What --wait shows while it polls: an ink line on a TTY, plain status lines otherwise. */
interface Progress {
  update(status: string, detail?: string): void
  finish(status: string): void
}

async function progressFor(ctx: CommandContext, label: string): Promise<Progress> {
  const start = Date.now()
  if (!ctx.io.stderrIsTTY) {
    let last = ''
    return {
      update(status) {
        if (status !== last) {
          last = status
          ctx.io.stderr(`${label}: ${status} (${((Date.now() - start) / 1000).toFixed(1)}s)\n`)
        }
      },
      finish() {},
    }
  }
  // ink and React load only here, so that commands without a TTY view start fast.
  const [{ render }, { createElement }, { WaitView }] = await Promise.all([import('ink'), import('react'), import('./wait-view.js')])
  let state = { status: '…', detail: undefined as string | undefined, frame: 0 }
  const view = () => createElement(WaitView, { label, status: state.status, detail: state.detail, elapsedMs: Date.now() - start, frame: state.frame })
  const app = render(view(), { stdout: process.stderr, patchConsole: false, exitOnCtrlC: false })
  const tick = setInterval(() => {
    state = { ...state, frame: state.frame + 1 }
    app.rerender(view())
  }, 100)
  return {
    update(status, detail) {
      state = { ...state, status, detail }
      app.rerender(view())
    },
    finish(status) {
      clearInterval(tick)
      app.rerender(createElement(WaitView, { label, status, elapsedMs: Date.now() - start, frame: 0, done: status !== 'ERROR' && status !== 'cancelled' && status !== '?' }))
      app.unmount()
    },
  }
}

/**
 * The status the progress line ends on when the wait throws: `cancelled` on Ctrl-C (the
 * operation goes on without us: never ERROR for an instance that may yet become ACTIVE),
 * ERROR only when the status was the failure, else the last status seen.
 */
function endStatus(e: unknown, last: string, failure: string): string {
  if (e instanceof Error && e.name === 'AbortError') return 'cancelled'
  return last === failure ? 'ERROR' : last || '?'
}

/**
 * --wait for an instance: until ACTIVE (failing on ERROR with the instance's fault),
 * until it is gone (target DELETED), or until any status of a list (e.g. ACTIVE or
 * RESTART_REQUIRED after a configuration attach). `--timeout SECONDS` bounds it (exit 8).
 */
export async function waitForInstance(
  ctx: CommandContext,
  client: TroveClient,
  id: string,
  target: 'ACTIVE' | 'DELETED' | readonly string[],
  opts: Record<string, unknown>,
  name?: string,
  /** The instance as the caller has it (a create's answer): the wait starts from it, no GET first. */
  initial?: Instance,
): Promise<Instance | undefined> {
  const timeoutS = opts.timeout === undefined ? 1800 : Number(opts.timeout)
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new CliError(`--timeout must be a positive number of seconds, not '${String(opts.timeout)}'`, 2)
  const progress = await progressFor(ctx, name ? `instance ${name} (${id})` : `instance ${id}`)
  let last = ''
  try {
    const r = await waitFor<Instance>({
      fetch: () => client.instances.get(id),
      watch: (i, maxMs) => client.instances.changed(id, i.status, maxMs),
      ...(initial ? { initial } : {}),
      status: (i) => i.status,
      until: typeof target === 'string' ? [target] : [...target],
      // A delete runs until the instance is gone: one in ERROR stays ERROR meanwhile (upstream's status).
      failOn: target === 'DELETED' ? [] : ['ERROR'],
      failMessage: (i) => `instance ${i.name} (${i.id}) is ERROR${i.fault?.message ? `: ${i.fault.message}` : ''}`,
      timeoutMs: timeoutS * 1000,
      intervalMs: 250,
      signal: ctx.io.signal,
      onProgress: (i) => {
        last = i ? i.status : 'DELETED'
        progress.update(last, i?.operating_status || undefined)
      },
    })
    progress.finish(r ? r.status : 'DELETED')
    return r
  } catch (e) {
    progress.finish(endStatus(e, last, 'ERROR'))
    throw e
  }
}

/**
 * --wait for a backup: until COMPLETED (failing on FAILED) or until it is gone (target
 * DELETED), with the same progress display and `--timeout` as instances.
 */
export async function waitForBackup(ctx: CommandContext, client: TroveClient, id: string, target: 'COMPLETED' | 'DELETED', opts: Record<string, unknown>, name?: string): Promise<Backup | undefined> {
  const timeoutS = opts.timeout === undefined ? 1800 : Number(opts.timeout)
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new CliError(`--timeout must be a positive number of seconds, not '${String(opts.timeout)}'`, 2)
  const progress = await progressFor(ctx, name ? `backup ${name} (${id})` : `backup ${id}`)
  let last = ''
  try {
    const r = await waitFor<Backup>({
      fetch: () => client.backups.get(id),
      status: (b) => b.status,
      until: [target],
      failOn: ['FAILED', 'DELETE_FAILED'],
      failMessage: (b) => `backup ${b.name} (${b.id}) is ${b.status}`,
      timeoutMs: timeoutS * 1000,
      intervalMs: 250,
      signal: ctx.io.signal,
      onProgress: (b) => {
        last = b ? b.status : 'DELETED'
        progress.update(last)
      },
    })
    progress.finish(r ? r.status : 'DELETED')
    return r
  } catch (e) {
    progress.finish(endStatus(e, last, 'FAILED'))
    throw e
  }
}
