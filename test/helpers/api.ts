import type { Test } from 'tap'
import { readCloudPasswords } from '../../src/server/clouds.js'
import { startLab, type InProcessLab } from './lab.js'
import type { ServerOptions } from '../../src/server/index.js'
import type { Lab } from '../../src/server/lab.js'
import type { RpcRequest } from '../../src/protocol/index.js'
import { scriptedAgent, until } from './scripted-agent.js'

export interface ApiLab extends InProcessLab {
  /** Tokens and project ids of the lab users. */
  demo: { token: string; project: string }
  admin: { token: string; project: string }
  /** An injected request; headers default to the demo user's token. */
  req(
    method: string,
    path: string,
    o?: { body?: unknown; token?: string | null; headers?: Record<string, string>; raw?: string },
  ): Promise<{ status: number; body: any; headers: Record<string, unknown> }>
}

export async function apiLab(t: Test, opts: ServerOptions = {}): Promise<ApiLab> {
  const lab = await startLab(t, opts)
  const pw = readCloudPasswords(lab.cloudsFile)!
  const http = lab.server.http
  const login = async (user: 'demo' | 'admin') => {
    const r = await http.inject({
      method: 'POST',
      url: '/identity/v3/auth/tokens',
      payload: {
        auth: {
          identity: { methods: ['password'], password: { user: { name: user, domain: { name: 'Default' }, password: pw[user] } } },
          scope: { project: { name: user, domain: { name: 'Default' } } },
        },
      },
    })
    return { token: String(r.headers['x-subject-token']), project: (r.json() as any).token.project.id as string }
  }
  const demo = await login('demo')
  const admin = await login('admin')
  const req: ApiLab['req'] = async (method, path, o = {}) => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) }
    const token = o.token === undefined ? demo.token : o.token
    if (token) headers['x-auth-token'] = token
    if (o.body !== undefined || o.raw !== undefined) headers['content-type'] ??= 'application/json'
    const r = await http.inject({ method: method as 'GET', url: path, headers, payload: o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body)) })
    let body: unknown = r.body
    try {
      body = r.body ? JSON.parse(r.body) : undefined
    } catch {
      /* not json */
    }
    return { status: r.statusCode, body, headers: r.headers as Record<string, unknown> }
  }
  return { ...lab, demo, admin, req }
}

/** The key structure of a JSON value (arrays reduced to their first item), for contract checks. */
export function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.length ? [shape(v[0])] : []
  if (v !== null && typeof v === 'object')
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, shape((v as Record<string, unknown>)[k])]),
    )
  return typeof v
}

/**
 * Paths of `sample` (an upstream example) that `actual` lacks. The samples predate
 * some fields real servers send (the transcript has them), so a contract holds
 * when nothing of the sample is missing.
 */
export function missingFields(actual: unknown, sample: unknown, path = ''): string[] {
  if (Array.isArray(sample)) {
    if (!Array.isArray(actual)) return [path || '(root)']
    return sample.length && actual.length ? missingFields(actual[0], sample[0], `${path}[0]`) : []
  }
  if (sample !== null && typeof sample === 'object') {
    if (actual === null || typeof actual !== 'object') return [path || '(root)']
    return Object.keys(sample).flatMap((k) =>
      k in (actual as object) ? missingFields((actual as Record<string, unknown>)[k], (sample as Record<string, unknown>)[k], `${path}.${k}`) : [`${path}.${k}`],
    )
  }
  return []
}

/** A member of a third project (neither demo nor admin), for isolation checks. */
export function otherMember(lab: ApiLab): { token: string; project: string } {
  const identity = lab.server.lab.identity
  const project = identity.createProject('other')
  const user = identity.createUser('other', 'other-password-1', project.id)
  identity.assignRole(user.id, project.id, 'member')
  return { token: identity.issueToken(user, project, ['password']).token, project: project.id }
}

/** Has `lab`'s server applied a heartbeat of instance `id` sent at `sent` or later (ScriptedAgent.lastSent)? */
export function heartbeatApplied(lab: Pick<ApiLab, 'server'>, id: string, sent: number): boolean {
  const last = lab.server.lab.db.prepare('SELECT last_sent FROM service_statuses WHERE instance_id = ?').pluck().get(id) as number | undefined
  return last !== undefined && last >= sent
}

/** An instance built to ACTIVE by a scripted agent; `casts` collects its create_backup requests. */
export async function backupReadyInstance(t: Test, lab: ApiLab, name: string, datastore = 'mariadb') {
  const p = `/v1.0/${lab.demo.project}`
  const id = (await lab.req('POST', `${p}/instances`, { body: { instance: { name, flavorRef: '1', volume: { size: 1 }, datastore: { type: datastore } } } })).body.instance.id as string
  const casts: RpcRequest[] = []
  const agent = await scriptedAgent(lab.dataDir, id, {
    create_backup: (req) => {
      casts.push(req)
      return null
    },
  })
  t.teardown(() => agent.close())
  await agent.heartbeat('HEALTHY')
  await until(async () => (await lab.req('GET', `${p}/instances/${id}`)).body.instance.status === 'ACTIVE', 5000, 'ACTIVE')
  return { id, agent, casts, show: async () => (await lab.req('GET', `${p}/instances/${id}`)).body.instance }
}

/** An instance row of project `tenant` (p1) written straight into a lab's database (no agent, never ACTIVE), and its datastore version. */
export function instanceRow(lab: Lab, datastore: string, id = '0b7e2b7a-1111-4222-8333-444455556666', tenant = 'p1'): { id: string; version: string } {
  const version = lab.db.prepare('SELECT v.id FROM datastore_versions v JOIN datastores d ON d.id = v.datastore_id WHERE d.name = ?').pluck().get(datastore) as string
  lab.instances.create({
    id,
    name: 'i',
    tenant_id: tenant,
    flavor_id: '1',
    volume_size: 1,
    volume_type: null,
    datastore_version_id: version,
    address: null,
    port: null,
    region_id: 'RegionOne',
    access: null,
  })
  return { id, version }
}
