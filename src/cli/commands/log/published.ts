import { NotFoundError, type GuestLog, type TroveClient } from '../../../sdk/index.js'

/**
 * The published text of a log for `log tail` and `log save`, after an optional publish.
 * Against an OpenStack cloud it is read from the object store (Swift in the catalog) as
 * the openstack client does; a lab serves its store through a lab extension route
 * (client.logs.contents), used only when the server is a lab. A log never published is
 * upstream's message on stdout with exit 0 (cli.md 7.10); undefined is returned then.
 */
export async function publishedText(client: TroveClient, instanceId: string, log: string, o: { publish: boolean; lines: number }, out: (s: string) => void): Promise<string | undefined> {
  const missing = () => {
    out(`ERROR: No published '${log}' log was found for ${instanceId}\n`)
    return undefined
  }
  let info: GuestLog | undefined
  if (o.publish) info = await client.logs.action(instanceId, log, { publish: true })
  if (await client.isLab()) {
    try {
      return (await client.logs.contents(instanceId, log, o.lines)).contents
    } catch (e) {
      if (e instanceof NotFoundError && /No published/.test(e.message)) return missing()
      throw e
    }
  }
  info ??= await client.logs.show(instanceId, log)
  try {
    return await client.logs.objectStoreContents(info, o.lines)
  } catch (e) {
    // Any 404 of the object store (container, object) means nothing was published.
    if (e instanceof NotFoundError) return missing()
    throw e
  }
}
