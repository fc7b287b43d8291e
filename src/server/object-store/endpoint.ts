import { mkdir, rm } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer, type Server } from 'node:https'
import { join } from 'node:path'
import { GB } from '../../common/units.js'
import { ARCHIVE_CONTAINER, BACKUP_CONTAINER, LOG_CONTAINER, OBJECT_STORE_PREFIX, validObjectName, type RestoreSpec } from '../../protocol/index.js'
import { backupStore } from '../db/backups.js'
import { Tasks } from '../db/tasks.js'
import type { Lab } from '../lab.js'
import { serveArchive } from './archive.js'
import { bytesUnder, sendObject, StoreError, writeObject } from './files.js'

/**
 * The object store sandboxed agents reach over the lab bridge (docs/isolation.md, "the stream";
 * protocol/object-store.ts): node's https server with the broker's certificate (it names the gateway;
 * agents pin the lab CA), listening on the gateway only. Each request is authenticated with the
 * agent's MQTT credential and authorised per object from the server's own records, never from what
 * the agent says:
 * - `backups/<id><ext>`: PUT and DELETE only for the backup the server asked THIS instance to make
 *   (its running backup row), write-once; GET/HEAD only for the files of the restore chain of this
 *   instance's running create (the task's RestoreSpec), and the metadata of the parent of its running
 *   backup (what an incremental builds on);
 * - `database_logs/<instance>/...`: everything under its own instance id, nothing else;
 * - `archive/...`: its own log archive, written; a source's, read while restoring from it (archive.ts).
 * The server writes every file itself (files.ts): the store's directories stay root's and unseen.
 */

/** Requests one agent may have in flight (a MariaDB restore reads its whole chain at once). */
const PER_INSTANCE = 8
/** A published log object is at most 1 MB (upstream's guest_log_limit): room for a metafile's too. */
const LOG_OBJECT_LIMIT = 4 << 20
/** What a backup may exceed its volume by (the archive's headers). */
const BACKUP_SLACK = 64 << 20

export interface ObjectStoreOptions {
  lab: Lab
  host: string
  port?: number
  tls: { key: string; cert: string }
  log: (m: string) => void
}

export interface ObjectStoreHandle {
  server: Server
  port: number
  close(): Promise<void>
}

/** What one request may do to one object. */
interface Grant {
  path: string
  /** PUT: at most this many bytes; undefined: PUT refused. */
  limit?: number
  overwrite?: boolean
  read: boolean
  remove: boolean
}

const forbidden = (m: string) => new StoreError(403, m)

function credentials(req: IncomingMessage): { user: string; password: string } | undefined {
  const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(req.headers.authorization ?? '')
  if (!m) return undefined
  const text = Buffer.from(m[1]!, 'base64').toString('utf8')
  const i = text.indexOf(':')
  return i > 0 ? { user: text.slice(0, i), password: text.slice(i + 1) } : undefined
}

/** The restore chain of the instance's running create, if it restores from a backup. */
function restoreChain(lab: Lab, instanceId: string): RestoreSpec['chain'] {
  const task = new Tasks(lab.db).running(instanceId, 'create_instance')
  if (!task) return []
  try {
    return (JSON.parse(task.payload) as { restore?: RestoreSpec }).restore?.chain ?? []
  } catch {
    return []
  }
}

function backupGrant(lab: Lab, instanceId: string, name: string): Grant {
  const dir = lab.compute.backupsDir
  const m = /^([0-9a-f][0-9a-f-]{7,63})\.[a-z0-9][a-z0-9.]*$/.exec(name)
  if (!m) throw forbidden(`not a backup object: ${name}`)
  const id = m[1]!
  const path = join(dir, name)
  const backups = backupStore(lab.db)
  const pending = backups.running(instanceId)
  if (pending?.id === id) {
    const size = lab.instances.get(instanceId)?.volume_size ?? 1
    return { path, limit: size * GB + BACKUP_SLACK, read: false, remove: true }
  }
  const chain = restoreChain(lab, instanceId)
  const inChain = chain.some((b) => b.location === path || (b.id === id && name === `${id}.meta.json`))
  const parentMeta = pending?.parent_id === id && name === `${id}.meta.json`
  if (inChain || parentMeta) return { path, read: true, remove: false }
  throw forbidden(`backup object ${name} is not one this instance was asked to write or to restore`)
}

function logGrant(lab: Lab, instanceId: string, name: string): Grant {
  if (name.split('/')[0] !== instanceId || name === instanceId) throw forbidden(`log object ${name} is not under this instance's prefix ${instanceId}/`)
  return { path: join(lab.compute.storageDir, LOG_CONTAINER, name), limit: LOG_OBJECT_LIMIT, overwrite: true, read: true, remove: true }
}

/** Starts the store on `host` (the lab's gateway); `port` when free (a restarted server keeps its port), else any. */
export async function startObjectStore(o: ObjectStoreOptions): Promise<ObjectStoreHandle> {
  const { lab } = o
  const active = new Map<string, number>()
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? ''
    // Names never need percent-encoding (validObjectName): an encoded one is refused, not decoded.
    if (!url.startsWith(`${OBJECT_STORE_PREFIX}/`) || /[%?#\\]/.test(url)) throw new StoreError(404, 'not an object path')
    const rest = url.slice(OBJECT_STORE_PREFIX.length + 1)
    const slash = rest.indexOf('/')
    const container = slash > 0 ? rest.slice(0, slash) : rest
    let name = slash > 0 ? rest.slice(slash + 1) : ''
    const prefixDelete = req.method === 'DELETE' && container === LOG_CONTAINER && name.endsWith('/')
    if (prefixDelete) name = name.slice(0, -1)
    if (!validObjectName(name)) throw new StoreError(400, 'invalid object name')
    const cred = credentials(req)
    const instanceId = cred ? lab.credentials.verify(cred.user, cred.password) : undefined
    if (!instanceId) {
      res.setHeader('WWW-Authenticate', 'Basic realm="trove"')
      throw new StoreError(401, 'authentication required')
    }
    const n = active.get(instanceId) ?? 0
    if (n >= PER_INSTANCE) throw new StoreError(429, `at most ${PER_INSTANCE} requests of one instance at a time`)
    active.set(instanceId, n + 1)
    try {
      let grant: Grant
      if (container === ARCHIVE_CONTAINER) return await serveArchive(req, res, lab, instanceId, name)
      if (container === BACKUP_CONTAINER) grant = backupGrant(lab, instanceId, name)
      else if (container === LOG_CONTAINER) grant = logGrant(lab, instanceId, name)
      else throw new StoreError(404, `no container ${container}`)
      await serve(req, res, grant, container, instanceId, prefixDelete, lab)
    } finally {
      const left = (active.get(instanceId) ?? 1) - 1
      if (left > 0) active.set(instanceId, left)
      else active.delete(instanceId)
    }
  }
  const server = createServer({ key: o.tls.key, cert: o.tls.cert, minVersion: 'TLSv1.2', handshakeTimeout: 10_000 }, (req, res) => {
    handle(req, res).catch((e: Error) => {
      const status = e instanceof StoreError ? e.status : 500
      if (status === 500) o.log(`object store: ${req.method} ${req.url}: ${e.message}`)
      if (!res.headersSent) {
        res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' })
        res.end(`${e instanceof StoreError ? e.message : 'internal error'}\n`)
      } else res.destroy()
      // A refused upload is not read to its end.
      req.resume()
    })
  })
  server.on('tlsClientError', () => {
    /* a failed handshake: the socket is already gone */
  })
  // A stream may run for minutes: no whole-request deadline, but headers within 10 s and no 60 s silence.
  server.requestTimeout = 0
  server.headersTimeout = 10_000
  server.setTimeout(60_000, (socket) => socket.destroy())
  const port = await new Promise<number>((resolve, reject) => {
    const tryPort = (p: number) => {
      server.once('error', (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' && p !== 0 ? tryPort(0) : reject(e)))
      server.listen(p, o.host, () => resolve((server.address() as { port: number }).port))
    }
    tryPort(o.port ?? 0)
  })
  server.removeAllListeners('error')
  server.on('error', (e) => o.log(`object store: ${e.message}`))
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

async function serve(req: IncomingMessage, res: ServerResponse, g: Grant, container: string, instanceId: string, prefixDelete: boolean, lab: Lab): Promise<void> {
  switch (req.method) {
    case 'PUT': {
      if (g.limit === undefined) throw forbidden('this object is read-only for this instance')
      let limit = g.limit
      if (container === BACKUP_CONTAINER) {
        // Every object of the backup together: data, metadata and whatever else it names.
        limit -= await bytesUnder(lab.compute.backupsDir, `${g.path.slice(lab.compute.backupsDir.length + 1).split('.')[0]}.`)
      } else {
        const own = join(lab.compute.storageDir, LOG_CONTAINER, instanceId)
        const size = lab.instances.get(instanceId)?.volume_size ?? 1
        limit = Math.min(limit, size * GB - (await bytesUnder(own, '', true)))
        await mkdir(join(g.path, '..'), { recursive: true, mode: 0o700 })
      }
      const declared = Number(req.headers['content-length'] ?? NaN)
      if (declared > limit) throw new StoreError(413, `object too large: ${declared} bytes, the limit is ${Math.max(0, limit)}`)
      // The agent's MD5: a header, or (streamed, known only at the end) a trailer.
      const etag = () => {
        const v = req.headers.etag ?? req.trailers.etag
        return typeof v === 'string' ? v.replace(/"/g, '') : undefined
      }
      const r = await writeObject(g.path, req, { limit: Math.max(0, limit), overwrite: g.overwrite === true, etag })
      res.writeHead(201, { ETag: r.etag, 'Content-Length': '0' })
      res.end()
      return
    }
    case 'GET':
    case 'HEAD': {
      if (!g.read) throw forbidden('this object is not readable by this instance')
      return await sendObject(req, res, g.path)
    }
    case 'DELETE': {
      if (!g.remove) throw forbidden('this object is not this instance to delete')
      await rm(g.path, { force: true, recursive: prefixDelete })
      res.writeHead(204)
      res.end()
      return
    }
    default:
      throw new StoreError(405, `method ${req.method} not allowed`)
  }
}
