import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import type { Agent as HttpsAgent } from 'node:https'
import type { AuthOptions } from './auth/config.js'
import { databaseUrl, findEndpoint, issueToken, type JsonHttp, type TokenInfo } from './auth/keystone.js'
import { v3Root } from './auth/keystone.js'
import { tokenCacheKey, tokenStillGood, type TokenCache } from './auth/token-cache.js'
import { APIConnectionError, type APIError, APITimeoutError, TroveError, UnauthorizedError, makeAPIError } from './errors.js'
import { Instances } from './resources/instances.js'
import { Flavors } from './resources/flavors.js'
import { Datastores, DatastoreVersions } from './resources/datastores.js'
import { Identity } from './resources/identity.js'
import { Databases } from './resources/databases.js'
import { Users } from './resources/users.js'
import { Root } from './resources/root.js'
import { Configurations } from './resources/configurations.js'
import { ConfigurationParameters } from './resources/configuration-parameters.js'
import { Limits } from './resources/limits.js'
import { Quotas } from './resources/quotas.js'
import { BackupStrategies } from './resources/backup-strategies.js'
import { BackupSchedules } from './resources/backup-schedules.js'
import { Backups } from './resources/backups.js'
import { Clusters } from './resources/clusters.js'
import { MgmtDatastoreVersions } from './resources/mgmt-datastore-versions.js'
import { Logs } from './resources/logs.js'
import { Modules } from './resources/modules.js'
import { MgmtInstances } from './resources/mgmt-instances.js'
import { LinkMarker } from './transport.js'
import type { Query, RequestOptions, Response, Transport } from './transport.js'

export type { Query, RequestOptions, Response } from './transport.js'
import { setTimeout as sleep } from 'node:timers/promises'

/** How to reach and authenticate to a Trove API. */
export interface ClientOptions {
  /** Keystone v3 authentication (password or token), or a fixed endpoint (`none`/`admin_token`). */
  auth?: AuthOptions
  /** A Trove endpoint to use directly, e.g. http://host:8779/v1.0/<project_id> (skips the catalog). */
  endpoint?: string
  /** A token to send as X-Auth-Token with `endpoint`. */
  token?: string
  /** Per-request timeout in milliseconds (default 60 000). */
  timeoutMs?: number
  /** Retries of connection errors, 429/413 with Retry-After and 503 (default 2). */
  maxRetries?: number
  /** User-Agent header. */
  userAgent?: string
  /** Receives one line per request and response (tokens and passwords redacted). */
  debug?: (line: string) => void
  /** Keeps Keystone tokens between clients (processes); a cached token is reused until near expiry and dropped on a 401. */
  tokenCache?: TokenCache
  /**
   * Parses JSON response bodies (default JSON.parse). Trove is Python: its integers have no
   * size limit (parameter maxima reach 2^64-1), so pass a parser that keeps them exact
   * (e.g. lossless-json returning bigints) to read them as sent.
   */
  parseJson?: (text: string) => unknown
  /** Serialises JSON request bodies (default JSON.stringify); the counterpart of parseJson for bodies holding bigints. */
  stringifyJson?: (value: unknown) => string
}

/** The mark on every answer of a trove lab (src/server/http/server.ts; the SDK imports nothing from the server). */
const LAB_HEADER = 'x-trove-lab'
const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT'])
/** The server's certificate no longer checks out against the CA in use (a lab set up again, a new CA). */
const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'CERT_SIGNATURE_FAILURE',
])

/** Passwords, token ids and lab tokens out of debug lines. */
export function redact(s: string): string {
  return s
    .replace(/("(?:password|admin_pass|root_password|secret)"\s*:\s*)"(?:[^"\\]|\\.)*"/g, '$1"***"')
    .replace(/("token"\s*:\s*\{\s*"id"\s*:\s*)"[^"]*"/g, '$1"***"')
    .replace(/("(?:id|token)"\s*:\s*)"tlab[^"]*"/g, '$1"***"')
}

/** A transport error with the system error code (ECONNREFUSED, ...) as its cause. */
class TransportTimeout extends Error {
  readonly code = 'TRANSPORT_TIMEOUT'
}

/**
 * A Trove v1.0 client. Authenticates lazily (once, again on a 401), finds the
 * database endpoint in the catalog, and exposes one object per resource.
 */
export class TroveClient implements Transport {
  /** Database instances. */
  readonly instances: Instances
  /** Flavors. */
  readonly flavors: Flavors
  /** Datastores. */
  readonly datastores: Datastores
  /** Datastore versions. */
  readonly datastoreVersions: DatastoreVersions
  /** Keystone v3 projects, users and roles (admin). */
  readonly identity: Identity
  /** Databases (schemas) of an instance. */
  readonly databases: Databases
  /** Database users of an instance. */
  readonly users: Users
  /** The root user of an instance or cluster. */
  readonly root: Root
  /** Configuration groups. */
  readonly configurations: Configurations
  /** Configuration parameters of datastore versions. */
  readonly configurationParameters: ConfigurationParameters
  /** Absolute and rate limits of the caller's project. */
  readonly limits: Limits
  /** Project quotas (admin). */
  readonly quotas: Quotas
  /** Backup strategies. */
  readonly backupStrategies: BackupStrategies
  /** Backups (and an instance's backups). */
  readonly backups: Backups
  /** Backup schedules of instances and their executions (lab extension). */
  readonly backupSchedules: BackupSchedules
  /** Clusters. */
  readonly clusters: Clusters
  /** Datastore versions (admin). */
  readonly mgmtDatastoreVersions: MgmtDatastoreVersions
  /** Guest logs of instances. */
  readonly logs: Logs
  /** Modules, and the modules applied to instances. */
  readonly modules: Modules
  /** Instances of every project (admin). */
  readonly mgmtInstances: MgmtInstances

  private readonly httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 16 })
  private httpsAgent?: HttpsAgent
  private httpsModule?: typeof import('node:https')
  private closed = false
  private session?: Promise<{ endpoint: string; token?: string; info?: TokenInfo }>
  /** Whether the last API or identity answer carried the lab's mark (undefined before any). */
  private labSeen?: boolean

  constructor(private readonly opts: ClientOptions) {
    if (!opts.auth && !opts.endpoint) throw new TroveError('either auth options or an endpoint is required')
    this.instances = new Instances(this)
    this.flavors = new Flavors(this)
    this.datastores = new Datastores(this)
    this.datastoreVersions = new DatastoreVersions(this)
    this.identity = new Identity(this)
    this.databases = new Databases(this)
    this.users = new Users(this)
    this.root = new Root(this)
    this.configurations = new Configurations(this)
    this.configurationParameters = new ConfigurationParameters(this)
    this.limits = new Limits(this)
    this.quotas = new Quotas(this)
    this.backupStrategies = new BackupStrategies(this)
    this.backups = new Backups(this)
    this.backupSchedules = new BackupSchedules(this)
    this.clusters = new Clusters(this)
    this.mgmtDatastoreVersions = new MgmtDatastoreVersions(this)
    this.logs = new Logs(this)
    this.modules = new Modules(this)
    this.mgmtInstances = new MgmtInstances(this)
  }

  private readonly rawJson: JsonHttp = async (method, url, body, headers = {}) => {
    const res = await this.send(method, url, body, headers)
    if (res.status >= 400) throw makeAPIError(res.status, res.body, res.headers)
    return res
  }

  private async send(method: string, url: string, body: unknown, headers: Record<string, string>, o: { raw?: boolean } = {}): Promise<Response<unknown>> {
    const timeout = this.opts.timeoutMs ?? 60_000
    const h: Record<string, string> = { accept: 'application/json', 'user-agent': this.opts.userAgent ?? 'trove-sdk', ...headers }
    let payload: string | undefined
    if (body !== undefined) {
      payload = this.opts.stringifyJson ? this.opts.stringifyJson(body) : JSON.stringify(body)
      h['content-type'] = 'application/json'
    }
    this.opts.debug?.(`REQ: ${method} ${url}${payload ? ` ${redact(payload)}` : ''}`)
    if (payload !== undefined) h['content-length'] = String(Buffer.byteLength(payload))
    let res: { status: number; text: string; headers: IncomingMessage['headers'] }
    try {
      res = await this.transport(method, url, h, payload, timeout)
    } catch (e) {
      if (e instanceof TransportTimeout) throw new APITimeoutError(url, timeout)
      throw new APIConnectionError(url, e)
    }
    const text = res.text
    // Object store bodies (guest logs) may hold anything: their size only.
    this.opts.debug?.(`RESP: [${res.status}] ${res.headers['x-openstack-request-id'] ?? ''} ${o.raw ? `(${Buffer.byteLength(text)} bytes)` : redact(text.slice(0, 2000))}`)
    if (o.raw) return { status: res.status, body: text, headers: res.headers }
    this.labSeen = res.headers[LAB_HEADER] !== undefined
    let parsed: unknown
    if (text) {
      try {
        parsed = (this.opts.parseJson ?? JSON.parse)(text)
      } catch {
        parsed = text
      }
    }
    return { status: res.status, body: parsed, headers: res.headers }
  }

  /** One HTTP exchange with node:http(s) and pooled keep-alive connections (node:https loads only for https URLs). */
  private async transport(
    method: string,
    url: string,
    headers: Record<string, string>,
    payload: string | undefined,
    timeout: number,
  ): Promise<{ status: number; text: string; headers: IncomingMessage['headers'] }> {
    if (this.closed) throw new TroveError('the client was closed')
    const u = new URL(url)
    let doRequest = httpRequest
    let agent: HttpAgent | HttpsAgent = this.httpAgent
    if (u.protocol === 'https:') {
      this.httpsModule ??= await import('node:https')
      this.httpsAgent ??= new this.httpsModule.Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: !this.opts.auth?.insecure })
      doRequest = this.httpsModule.request as unknown as typeof httpRequest
      agent = this.httpsAgent
    }
    return new Promise((resolve, reject) => {
      const req = doRequest(u, { method, headers, agent }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), headers: res.headers }))
        res.on('error', reject)
      })
      req.setTimeout(timeout, () => req.destroy(new TransportTimeout(`no answer within ${timeout} ms`)))
      req.on('error', reject)
      req.end(payload)
    })
  }

  private connect(force = false): Promise<{ endpoint: string; token?: string; info?: TokenInfo; cached?: boolean }> {
    if (this.session && !force) return this.session
    const o = this.opts
    this.session = (async () => {
      if (o.endpoint) return { endpoint: o.endpoint.replace(/\/+$/, ''), token: o.token }
      const a = o.auth!
      if (a.authType === 'none' || a.authType === 'admin_token') {
        if (!a.endpoint) throw new TroveError('an endpoint is required with auth type ' + a.authType + ' (OS_ENDPOINT or --os-endpoint)')
        return { endpoint: a.endpoint.replace(/\/+$/, ''), token: a.authType === 'admin_token' ? a.token : undefined }
      }
      const cache = this.opts.tokenCache
      const key = cache ? tokenCacheKey(a) : ''
      let info = cache && !force ? cache.get(key) : undefined
      if (info && !tokenStillGood(info)) {
        cache?.delete(key)
        info = undefined
      }
      const cached = info !== undefined
      if (!info) {
        if (cache && force) cache.delete(key)
        info = await issueToken(this.rawJson, a)
        cache?.set(key, info)
      }
      const url = findEndpoint(info.catalog, 'database', a.interface ?? 'public', a.regionName)
      return { endpoint: databaseUrl(url, info.projectId), token: info.token, info, cached }
    })()
    this.session.catch(() => {
      this.session = undefined
    })
    return this.session
  }

  /** The token information of the current session (authenticating if needed); undefined without Keystone. */
  async tokenInfo(): Promise<TokenInfo | undefined> {
    return (await this.connect()).info
  }

  /** The per-request timeout in ms (ClientOptions.timeoutMs, default 60 000). */
  get requestTimeoutMs(): number {
    return this.opts.timeoutMs ?? 60_000
  }

  /** The database endpoint in use, e.g. http://127.0.0.1:8779/v1.0/<project_id>. */
  async endpoint(): Promise<string> {
    return (await this.connect()).endpoint
  }

  /**
   * One API request below the database endpoint, with the retry policy: connection
   * failures before anything was sent, 429 and 413 with Retry-After, and 503 are
   * retried with jittered backoff; a request that may have reached the server is
   * retried only when idempotent. A 401 re-authenticates once.
   */
  async request<T>(method: string, path: string, o: RequestOptions = {}): Promise<Response<T>> {
    const idempotent = o.idempotent ?? method !== 'POST'
    const max = this.opts.maxRetries ?? 2
    let reauthed = false
    for (let attempt = 0; ; attempt++) {
      const s = await this.connect()
      const url = (o.service === 'identity' ? await this.identityEndpoint() : s.endpoint) + path + queryString(o.query)
      let res: Response<unknown>
      try {
        res = await this.send(method, url, o.body, s.token ? { 'x-auth-token': s.token } : {})
      } catch (e) {
        const code = (e as { cause?: { code?: string } }).cause?.code
        // A cached token whose cloud no longer answers (a lab that is gone, set up again elsewhere,
        // or with a new CA): the entry is dropped and one fresh login is tried, whose failure, if
        // any, names the auth URL instead of an endpoint remembered from the old catalog.
        if (s.cached && !reauthed && e instanceof APIConnectionError && code !== undefined && (CONNECT_CODES.has(code) || TLS_CODES.has(code))) {
          reauthed = true
          await this.connect(true)
          attempt--
          continue
        }
        const safe = !this.closed && e instanceof APIConnectionError && (idempotent || (code !== undefined && CONNECT_CODES.has(code)))
        if (safe && attempt < max) {
          await sleep(backoff(attempt))
          continue
        }
        throw e
      }
      if (res.status < 400) return res as Response<T>
      const err = makeAPIError(res.status, res.body, res.headers)
      if (err instanceof UnauthorizedError && !reauthed && s.info && err.fault !== 'unauthorized') {
        reauthed = true
        await this.connect(true)
        attempt--
        continue
      }
      if (attempt < max && retryable(err, idempotent)) {
        await sleep(err.retryAfter !== undefined ? err.retryAfter * 1000 : backoff(attempt))
        continue
      }
      throw err
    }
  }

  /**
   * Whether the server is a trove lab (`trove server`) rather than an OpenStack cloud: every
   * lab answer carries the X-Trove-Lab header, so this is free after any request; before
   * one, it asks the (unauthenticated) version document. Unreachable: false.
   */
  async isLab(): Promise<boolean> {
    if (this.labSeen !== undefined) return this.labSeen
    try {
      const endpoint = await this.endpoint()
      if (this.labSeen === undefined) await this.send('GET', `${endpoint.replace(/\/v1\.0(?:\/.*)?$/, '')}/`, undefined, {})
    } catch {
      return false
    }
    return this.labSeen ?? false
  }

  /**
   * The object store (Swift) endpoint from the Keystone catalog, e.g.
   * https://swift.example/v1/AUTH_<project>: where upstream Trove publishes guest logs.
   */
  async objectStoreEndpoint(): Promise<string> {
    const s = await this.connect()
    const a = this.opts.auth
    if (!s.info) throw new TroveError('the object store (Swift) is found in the Keystone catalog: authenticate with Keystone (OS_AUTH_URL or a clouds.yaml profile), not a fixed endpoint')
    return findEndpoint(s.info.catalog, 'object-store', a?.interface ?? 'public', a?.regionName).replace(/\/+$/, '')
  }

  /**
   * One object store request with the session's token (GET/HEAD of containers and objects).
   * The body is returned as text; a status >= 400 throws an APIError (404 a NotFoundError).
   * Idempotent requests only, retried like API requests on connection failures.
   */
  async objectStore(method: 'GET' | 'HEAD', path: string, query?: Query): Promise<Response<string>> {
    const max = this.opts.maxRetries ?? 2
    for (let attempt = 0; ; attempt++) {
      const s = await this.connect()
      const url = (await this.objectStoreEndpoint()) + path + queryString(query)
      let res: Response<unknown>
      try {
        res = await this.send(method, url, undefined, s.token ? { 'x-auth-token': s.token } : {}, { raw: true })
      } catch (e) {
        if (!this.closed && e instanceof APIConnectionError && attempt < max) {
          await sleep(backoff(attempt))
          continue
        }
        throw e
      }
      if (res.status < 400) return res as Response<string>
      const err = makeAPIError(res.status, undefined, res.headers)
      if (attempt < max && retryable(err, true)) {
        await sleep(err.retryAfter !== undefined ? err.retryAfter * 1000 : backoff(attempt))
        continue
      }
      throw err
    }
  }

  /** The identity (Keystone v3) endpoint: the catalog's `identity` service, else the auth URL's v3 root. */
  async identityEndpoint(): Promise<string> {
    const s = await this.connect()
    const a = this.opts.auth
    if (!s.info || !a?.authUrl) throw new TroveError('the identity service needs Keystone authentication (OS_AUTH_URL or a clouds.yaml profile)')
    try {
      return findEndpoint(s.info.catalog, 'identity', a.interface ?? 'public', a.regionName).replace(/\/+$/, '')
    } catch {
      return v3Root(this.rawJson, a.authUrl)
    }
  }

  /** Closes pooled connections; requests still pending and any later ones fail (Ctrl-C in the CLI). */
  async close(): Promise<void> {
    this.closed = true
    this.httpAgent.destroy()
    this.httpsAgent?.destroy()
  }
}

function retryable(e: APIError, idempotent: boolean): boolean {
  if ((e.status === 429 || e.status === 413) && e.retryAfter !== undefined) return e.retryAfter <= 60
  return e.status === 503 && idempotent
}

function backoff(attempt: number): number {
  return Math.min(8000, 250 * 2 ** attempt) * (0.5 + Math.random() / 2)
}

/** troveclient's query strings: keys in the given order, null/undefined dropped, booleans True/False. */
export function queryString(q?: Query): string {
  if (!q) return ''
  const parts: string[] = []
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined || v === null) continue
    if (v instanceof LinkMarker) {
      parts.push(`${encodeURIComponent(k)}=${escapeIllegal(v.value)}`)
      continue
    }
    const s = typeof v === 'boolean' ? (v ? 'True' : 'False') : String(v)
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(s)}`)
  }
  return parts.length ? `?${parts.join('&')}` : ''
}

/**
 * What python-requests does to a URL troveclient built by concatenation (requote_uri):
 * characters a query cannot carry are percent-encoded, everything else (including `%XX`
 * escapes, `@`, `&`) stays as given. Hand-written: no URL library offers this half-encoding.
 */
export function escapeIllegal(s: string): string {
  return s.replace(/%(?![0-9A-Fa-f]{2})|[^A-Za-z0-9\-._~!#$%&'()*+,/:;=?@[\]]+/gu, (m) => encodeURIComponent(m))
}
