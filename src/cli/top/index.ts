import { render as renderData } from '../output/index.js'
import type { CommandContext } from '../spec.js'
import { fetchSnapshot, snapshotTable } from './data.js'

/**
 * `trove top`: on a terminal (stdin and stdout) a live ink view refreshed every
 * `intervalS` seconds; otherwise one snapshot table, then exit.
 */
export async function runTop(ctx: CommandContext, o: { intervalS: number }): Promise<void> {
  const client = await ctx.client()
  if (!(ctx.io.stdoutIsTTY && ctx.io.stdinIsTTY)) {
    const text = renderData(snapshotTable(await fetchSnapshot(client)), { format: 'table', stdoutIsTty: false, terminalWidth: ctx.io.columns })
    if (text) ctx.io.stdout(text)
    return
  }
  const [{ render }, { createElement }, { TopApp }] = await Promise.all([import('ink'), import('react'), import('./view.js')])
  // A terminal that reports no size (a bare pty): lay out for 100 columns rather than 0.
  if (!process.stdout.columns) (process.stdout as { columns: number }).columns = 100
  const app = render(createElement(TopApp, { load: () => fetchSnapshot(client), intervalS: o.intervalS }), { exitOnCtrlC: true, patchConsole: false })
  await app.waitUntilExit()
}
