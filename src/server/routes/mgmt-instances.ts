import { existsSync, readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ServiceStatus } from '../../protocol/index.js'
import type { InstanceJoined } from '../db/instances.js'
import type { Lab } from '../lab.js'
import { processDiagnostics } from '../compute/host-info.js'
import { diskUsage as directoryUsage } from '../../common/disk-usage.js'
import { toGb } from '../../common/units.js'
import { agentReachable } from '../tasks/agent-health.js'
import { InstanceTask, taskById } from '../tasks/instance-tasks.js'
import { REBOOT_FIRST_STEP } from '../tasks/reboot-instance.js'
import { requireAdmin } from '../http/guard.js'
import { Fault, badRequest, resourceNotFound, unprocessable } from '../errors.js'
import { guestCall, guestFault } from '../instances/guest.js'
import { baseUrl } from '../http/server.js'
import { resetInstanceTask } from '../instances/actions.js'
import { flavors } from '../db/flavors.js'
import { rootHistory as rootHistoryStore } from '../db/root-history.js'
import { compileBodySchema, uuid } from '../http/validation.js'
import { LAB_NETWORK, instanceView } from '../http/views.js'

const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version

const BY_CODE = new Map<number, (typeof ServiceStatus)[keyof typeof ServiceStatus]>(Object.values(ServiceStatus).map((s) => [s.code, s]))

/**
 * The lab has no Nova and no Cinder. What upstream's mgmt views take from them is
 * described from this host instead: the "server" is the instance's agent process
 * (id = the instance id, status ACTIVE while the agent is up, SHUTOFF when it is
 * not, host = this host's name), and the "volume" is the instance directory (id =
 * the instance id, size = the allotted GB, used = what the directory occupies).
 */
function serverView(lab: Lab, inst: InstanceJoined) {
  const task = taskById(inst.task_id)
  const status = agentReachable(lab, inst.id) ? 'ACTIVE' : task.action === 'BUILDING' && !task.error ? 'BUILD' : 'SHUTOFF'
  return { id: inst.id, name: inst.name, status, tenant_id: inst.tenant_id, host: hostname() }
}

/** MgmtInstance (api.md 7.1): InstanceDetail plus server, service status, deletion and task. */
function mgmtInstanceView(req: FastifyRequest, lab: Lab, inst: InstanceJoined): Record<string, unknown> {
  const view = instanceView(req, inst, lab, { detail: true, admin: true })
  const deleted = inst.deleted === 1
  if (deleted) view.status = 'SHUTDOWN' // upstream's mgmt views report deleted instances so
  return Object.assign(view, {
    server: deleted ? null : serverView(lab, inst),
    server_id: inst.id,
    volume_id: inst.id,
    // Agent traffic is confined per agent by the broker, but payloads are not encrypted.
    encrypted_rpc_messaging: false,
    service_status: inst.status_id === null ? null : (BY_CODE.get(inst.status_id)?.api ?? null),
    tenant_id: inst.tenant_id,
    deleted,
    deleted_at: inst.deleted_at,
    task_description: inst.task_description,
  })
}

/** MgmtInstanceDetail: the server's addresses, the volume with its usage, the guest's status. */
async function mgmtInstanceDetail(req: FastifyRequest, lab: Lab, inst: InstanceJoined): Promise<Record<string, unknown>> {
  const view = mgmtInstanceView(req, lab, inst)
  if (inst.deleted === 1) {
    // What upstream shows when the server and the volume are gone: their ids only.
    view.server = { id: inst.id }
    view.volume = { id: inst.id }
  } else {
    // A loopback address has no MAC: the key is there (clients read it), its value null.
    const addresses = inst.address ? [{ 'OS-EXT-IPS-MAC:mac_addr': null, 'OS-EXT-IPS:type': 'fixed', addr: inst.address, version: 4 }] : []
    view.server = { ...serverView(lab, inst), addresses: { [LAB_NETWORK]: addresses } }
    const dir = lab.compute.instanceDir(inst.id)
    const present = existsSync(dir)
    const used = present ? toGb(await directoryUsage(dir)) : 0
    view.volume = {
      attachments: present ? [{ attached_at: inst.created, attachment_id: inst.id, device: dir, host_name: hostname(), id: inst.id, server_id: inst.id, volume_id: inst.id }] : [],
      // Nova's default zone name: what a single-zone upstream cloud reports.
      availability_zone: 'nova',
      created_at: inst.created,
      id: inst.id,
      size: inst.volume_size,
      status: present ? 'in-use' : 'error',
      used: used || null,
      total: inst.volume_size,
    }
  }
  view.guest_status = { state_description: inst.status_description }
  // Upstream's MgmtInstanceDetailView adds these only when the instance has a root history.
  const h = rootHistory(lab, inst.id)
  if (h) Object.assign(view, { root_enabled: h.created, root_enabled_by: h.user })
  return view
}

/** Who last enabled root through the API and when (root.ts records it; a disable keeps it, as upstream). */
function rootHistory(lab: Lab, id: string): { user: string; created: string } | undefined {
  return rootHistoryStore(lab.db).of(id)
}

function queryFlag(v: unknown): boolean | undefined {
  if (typeof v !== 'string') return undefined
  const s = v.toLowerCase()
  return s === 'true' ? true : s === 'false' ? false : undefined
}

function nonNegativeInt(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined || v === '') return fallback
  if (!/^\d+$/.test(v)) throw badRequest(`Invalid ${name} '${v}'.`)
  return Number(v)
}

const checkRebuild = compileBodySchema({
  type: 'object',
  properties: { rebuild: { type: 'object', required: ['image_id'], additionalProperties: false, properties: { image_id: uuid } } },
})

const MGMT_ACTIONS = ['stop', 'reboot', 'migrate', 'reset-task-status', 'rebuild'] as const

/** Routes 80-86 (api.md 7.1, 7.2), all behind admin_context (401 for members). */
export async function mgmtInstanceRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  /** A live instance of any project (with ?deleted=true on show, a deleted one too). */
  const load = (id: string, includeDeleted = false): InstanceJoined => {
    const inst = includeDeleted ? lab.instances.getAny(id) : lab.instances.get(id)
    if (!inst) throw resourceNotFound(id)
    return inst
  }

  app.get('/mgmt/instances', async (req) => {
    requireAdmin(req)
    const q = req.query as { deleted?: string; project_id?: string; include_clustered?: string; limit?: string; marker?: string }
    // The lab has no clusters, so include_clustered changes nothing. Without `deleted`,
    // upstream lists deleted and live instances alike.
    const limit = nonNegativeInt(q.limit, 'limit', lab.config.pageSize) || lab.config.pageSize
    const offset = nonNegativeInt(q.marker, 'marker', 0)
    const rows = lab.instances.listMgmt({ deleted: queryFlag(q.deleted), tenantId: q.project_id || undefined, offset, limit: limit + 1 })
    const body: Record<string, unknown> = { instances: rows.slice(0, limit).map((i) => mgmtInstanceView(req, lab, i)) }
    // A next link only when there is a next page (upstream also sends one after a full last page).
    if (rows.length > limit) {
      const url = new URL(`${baseUrl(req)}${req.url}`)
      url.searchParams.set('limit', String(limit))
      url.searchParams.set('marker', String(offset + limit))
      body.links = [{ rel: 'next', href: url.toString() }]
    }
    return body
  })

  app.get('/mgmt/instances/:id', async (req) => {
    requireAdmin(req)
    const { id } = req.params as { id: string }
    const inst = load(id, queryFlag((req.query as { deleted?: string }).deleted) === true)
    return { instance: await mgmtInstanceDetail(req, lab, inst) }
  })

  app.get('/mgmt/instances/:id/root', async (req) => {
    requireAdmin(req)
    const { id } = req.params as { id: string }
    load(id)
    // Upstream's RootHistoryView: the last enable through the API (who, when), else Never/Nobody.
    const h = rootHistory(lab, id)
    return { root_history: { id, enabled: h?.created ?? 'Never', user: h?.user ?? 'Nobody' } }
  })

  app.get('/mgmt/instances/:id/diagnostics', async (req) => {
    requireAdmin(req)
    const { id } = req.params as { id: string }
    load(id)
    // Upstream asks the guest to read its own /proc; the agent runs on this host, so its /proc is read here.
    const pid = lab.compute.agentPid(id)
    const d = pid ? await processDiagnostics(pid) : undefined
    if (!d) throw guestFault(new Error(`the guest agent of instance ${id} is not running`))
    return { diagnostics: { version: PACKAGE_VERSION, ...d } }
  })

  app.get('/mgmt/instances/:id/hwinfo', async (req) => {
    requireAdmin(req)
    const { id } = req.params as { id: string }
    const inst = load(id)
    // The instance's hardware is its flavor, enforced as cgroup limits: RAM in MB, vCPUs; `limits` says
    // which of them this host enforces ("not enforced" where no cgroup controller can be used).
    const flavor = flavors(lab.db).get(inst.flavor_id)
    return { hwinfo: { mem_total: flavor?.ram ?? null, num_cpus: flavor?.vcpus ?? null, limits: lab.compute.limitsText() } }
  })

  app.get('/mgmt/instances/:id/rpc_ping', async (req, reply) => {
    requireAdmin(req)
    const { id } = req.params as { id: string }
    load(id)
    await guestCall(lab, id, 'rpc_ping')
    return reply.code(204).send()
  })

  app.post('/mgmt/instances/:id/action', async (req, reply) => {
    requireAdmin(req)
    const { id } = req.params as { id: string }
    const body = req.body
    if (body === null || typeof body !== 'object' || Array.isArray(body) || Object.keys(body).length === 0) throw badRequest('Invalid request body.')
    const inst = load(id)
    type MgmtAction = (typeof MGMT_ACTIONS)[number]
    let action: MgmtAction | undefined
    for (const key of Object.keys(body)) {
      if (!(MGMT_ACTIONS as readonly string[]).includes(key)) throw badRequest(`Invalid instance action: ${key}`)
      if (action) throw badRequest('Only one action can be specified per request.')
      action = key as MgmtAction
    }
    switch (action as MgmtAction) {
      case 'stop':
        await guestCall(lab, id, 'stop_db')
        lab.log(`instance ${id}: database stopped by an admin`)
        break
      case 'reboot': {
        // Upstream also requires an ACTIVE server and an allowed guest status; in the lab a
        // reboot is how an admin brings back an instance whose agent is down, so only a
        // running task stops it.
        const task = taskById(inst.task_id)
        if (task !== InstanceTask.NONE && task !== InstanceTask.RESTART_REQUIRED) {
          throw unprocessable(`Instance ${id} is not currently available for an action to be performed (task status was ${task.action}).`)
        }
        if (!lab.compute.hasBootstrap(id)) throw unprocessable(`Instance ${id} has no guest agent to reboot: it was never launched.`)
        lab.db.transaction(() => {
          lab.instances.setTask(id, 'REBOOTING')
          lab.instances.setServiceStatus(id, 'RESTARTING')
        })()
        lab.notifications.start(req, 'instance_reboot', id, { instance_id: id })
        lab.tasks.submit('reboot_instance', id, {}, REBOOT_FIRST_STEP)
        break
      }
      case 'reset-task-status':
        resetInstanceTask(lab, inst)
        lab.log(`instance ${id}: task reset to NONE by an admin`)
        break
      case 'migrate':
        throw new Fault('notImplemented', 'Migrating an instance (migrate) is not possible in this lab: it has a single host, and every instance runs on it.')
      case 'rebuild':
        checkRebuild(body)
        throw new Fault('notImplemented', "Rebuilding an instance (rebuild) is not possible in this lab: there are no guest images; every guest is this host's trove agent.")
    }
    return reply.code(202).send()
  })
}
