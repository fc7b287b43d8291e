import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { RPC_TIMEOUT } from '../broker/rpc.js'
import type { Lab } from '../lab.js'
import { caller } from '../http/guard.js'
import { badRequest, notFound } from '../errors.js'
import { guestCallWith as guestCall } from '../instances/guest.js'
import { loadInstance } from '../instances/load.js'

/** Upstream's guest_log_container_name: the container (here a directory of the lab's store) logs are published into. */
const LOG_CONTAINER = 'database_logs'
/** A log name as engines define them (general, slow_query...): also what may go into a storage path. */
const LOG_NAME = /^[A-Za-z0-9_-]{1,64}$/

const flag = (v: unknown): boolean => v !== undefined && v !== null && v !== false && v !== 0 && v !== '' && v !== '0'

/**
 * Guest logs, routes 13-14 (api.md 6.5, internals.md 3.5), plus a lab extension. The
 * lab's object store is a directory (DIR/storage) the guests publish into, so the
 * "Swift unavailable → 501" check of upstream never fires.
 */
export async function logRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  app.get('/instances/:id/log', async (req) => {
    const inst = loadInstance(lab, caller(req), (req.params as { id: string }).id)
    const logs = await guestCall(lab, inst.id, 'guest_log_list', { is_admin: caller(req).isAdmin }, RPC_TIMEOUT.high)
    return { logs }
  })

  // Upstream: no policy check and no schema (a missing name is a 500 there; a 400 here).
  app.post('/instances/:id/log', async (req) => {
    const inst = loadInstance(lab, caller(req), (req.params as { id: string }).id)
    const body = req.body as Record<string, unknown> | undefined
    if (!body || typeof body !== 'object' || Array.isArray(body) || typeof body.name !== 'string' || body.name === '') throw badRequest("Validation error: 'name' is a required property")
    const enable = flag(body.enable)
    const disable = flag(body.disable)
    if (enable && disable) throw badRequest('Cannot enable and disable log.')
    const log = await guestCall(
      lab,
      inst.id,
      'guest_log_action',
      {
        log_name: body.name,
        enable,
        disable,
        publish: flag(body.publish),
        discard: flag(body.discard),
        is_admin: caller(req).isAdmin,
      },
      RPC_TIMEOUT.high,
    )
    // PostgreSQL's general log waits for a restart: upstream then flags the instance.
    if (log.status === 'Restart Required') lab.instances.setTask(inst.id, 'RESTART_REQUIRED')
    return { log }
  })

  /**
   * Lab extension (not upstream): the published text of a log, or its last `lines`
   * lines. Upstream's client reads the objects from Swift itself (`log tail`, `log
   * save`); the lab has no Swift, so the server reads its object store for the client.
   * The guest is asked first (as the client's `log show` does), which checks the log
   * exists and that the caller may see it.
   */
  app.get('/instances/:id/log/:name/contents', async (req) => {
    const { id, name } = req.params as { id: string; name: string }
    const inst = loadInstance(lab, caller(req), id)
    if (!LOG_NAME.test(name)) throw notFound(`Log '${name}' is not defined.`)
    const q = req.query as { lines?: string }
    const lines = q.lines === undefined || q.lines === '' ? 0 : Number(q.lines)
    if (!Number.isInteger(lines) || lines < 0) throw badRequest(`Invalid lines '${q.lines}': a non-negative integer is expected.`)
    const log = await guestCall(
      lab,
      inst.id,
      'guest_log_action',
      {
        log_name: name,
        enable: false,
        disable: false,
        publish: false,
        discard: false,
        is_admin: caller(req).isAdmin,
      },
      RPC_TIMEOUT.high,
    )
    const missing = notFound(`No published '${name}' log was found for ${inst.id}`)
    if (!log.published || log.container !== LOG_CONTAINER || !log.prefix.startsWith(`${inst.id}/`) || log.prefix.includes('..')) throw missing
    const dir = join(lab.compute.storageDir, LOG_CONTAINER, log.prefix)
    const objects = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.startsWith('log-')).sort()
    if (!objects.length) throw missing
    let text = ''
    if (lines === 0) {
      for (const o of objects) text += await readFile(join(dir, o), 'utf8')
    } else {
      // From the newest object back until enough lines are read (upstream's tail).
      const parts: string[] = []
      let count = 0
      for (let i = objects.length - 1; i >= 0 && count <= lines; i--) {
        const part = await readFile(join(dir, objects[i]!), 'utf8')
        parts.unshift(part)
        count += part.split('\n').length - 1
      }
      const all = parts.join('')
      const body = all.endsWith('\n') ? all.slice(0, -1) : all
      const split = body.split('\n')
      text = split.slice(Math.max(split.length - lines, 0)).join('\n') + (all.endsWith('\n') ? '\n' : '')
    }
    return { log: { name: log.name, container: log.container, prefix: log.prefix, published: log.published, lines, contents: text } }
  })
}
