import { NotFoundError, type TroveClient } from '../../../sdk/index.js'

/**
 * The published text of a log for `log tail` and `log save`, after an optional
 * publish. Upstream's client reads Swift; the lab serves its store through a lab
 * extension route (client.logs.contents). A log never published is upstream's message
 * on stdout with exit 0 (cli.md 7.10); undefined is returned then.
 */
export async function publishedText(client: TroveClient, instanceId: string, log: string, o: { publish: boolean; lines: number }, out: (s: string) => void): Promise<string | undefined> {
  if (o.publish) await client.logs.action(instanceId, log, { publish: true })
  try {
    return (await client.logs.contents(instanceId, log, o.lines)).contents
  } catch (e) {
    if (e instanceof NotFoundError && /No published/.test(e.message)) {
      out(`ERROR: No published '${log}' log was found for ${instanceId}\n`)
      return undefined
    }
    throw e
  }
}
