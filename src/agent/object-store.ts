import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import type { IncomingMessage } from 'node:http'
import { Agent, request, type RequestOptions } from 'node:https'
import { Readable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { objectPath, type AgentBootstrap } from '../protocol/index.js'

/**
 * The agent's client of the server's object store (protocol/object-store.ts), for a sandboxed
 * instance, whose agent cannot see the store's directory: node's https with the lab CA pinned, the
 * agent's MQTT credential as the login. Objects are streamed both ways; a PUT carries the MD5 the
 * agent computed as an `ETag` trailer (it is known only once the last byte went), which the server
 * compares with its own. `backupDir`/`storageDir` are the server's paths from the bootstrap: the names
 * backup locations carry, mapped back to object names here.
 */
export class ObjectStore {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 8 })

  constructor(
    readonly o: {
      /** The bootstrap file: the store's URL is read from it per request (a restarted server may move it). */
      bootstrapFile: string
      username: string
      password: string
      ca: string
      backupDir: string | undefined
      storageDir: string | undefined
    },
  ) {}

  private async base(): Promise<URL> {
    const b = JSON.parse(await readFile(this.o.bootstrapFile, 'utf8')) as AgentBootstrap
    if (!b.objectStore?.url) throw new Error('the bootstrap names no object store')
    return new URL(b.objectStore.url)
  }

  private async options(method: string, container: string, name: string, headers: Record<string, string> = {}): Promise<RequestOptions> {
    const u = await this.base()
    return {
      method,
      host: u.hostname,
      port: u.port,
      path: objectPath(container, name),
      ca: this.o.ca,
      agent: this.agent,
      headers: { Authorization: `Basic ${Buffer.from(`${this.o.username}:${this.o.password}`).toString('base64')}`, ...headers },
    }
  }

  /** One request without a body; the response (its body unread). */
  async call(method: 'GET' | 'HEAD' | 'DELETE', container: string, name: string): Promise<IncomingMessage> {
    const req = request(await this.options(method, container, name))
    req.end()
    const [res] = (await once(req, 'response')) as [IncomingMessage]
    // A connection lost while the body is read is the body's error (res), not an uncaught one of req.
    req.on('error', () => undefined)
    return res
  }

  /** GET as a stream; undefined when there is no such object; any other refusal throws with the server's reason. */
  async get(container: string, name: string): Promise<Readable | undefined> {
    const res = await this.call('GET', container, name)
    if (res.statusCode === 404) {
      res.resume()
      return undefined
    }
    if (res.statusCode !== 200) throw await refusal(res, `GET ${container}/${name}`)
    return res
  }

  /** HEAD: the object's size, or undefined when there is none. */
  async size(container: string, name: string): Promise<number | undefined> {
    const res = await this.call('HEAD', container, name)
    res.resume()
    if (res.statusCode === 404) return undefined
    if (res.statusCode !== 200) throw new Error(`the object store refused HEAD ${container}/${name}: ${res.statusCode}`)
    return Number(res.headers['content-length'])
  }

  async remove(container: string, name: string): Promise<void> {
    const res = await this.call('DELETE', container, name)
    if (res.statusCode !== 204 && res.statusCode !== 404) throw await refusal(res, `DELETE ${container}/${name}`)
    res.resume()
  }

  /**
   * PUT of `body` (chunks as they come). `commit` is asked once the body ended: false aborts the
   * upload (the server then names nothing). Resolves with the server's MD5 once it has the object.
   */
  async put(
    container: string,
    name: string,
    body: AsyncIterable<Buffer> | Buffer,
    md5: () => string,
    commit: () => boolean | Promise<boolean> = () => true,
    headers: Record<string, string> = {},
  ): Promise<string> {
    const req = request(await this.options('PUT', container, name, { ...headers, 'Transfer-Encoding': 'chunked', Trailer: 'ETag' }))
    let answered: IncomingMessage | undefined
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      req.once('response', (res: IncomingMessage) => {
        answered = res
        resolve(res)
      })
      req.on('error', reject)
    })
    response.catch(() => undefined)
    const stopped = response.then(() => undefined)
    // pipe() keeps to the socket's pace (backpressure); the request is ended (or aborted) here, not by it.
    const src = Readable.from(Buffer.isBuffer(body) ? [body] : body)
    src.pipe(req, { end: false })
    try {
      await Promise.race([finished(src), stopped])
    } catch (e) {
      req.destroy()
      throw e
    }
    // Answered before the end (a refusal): the rest is not sent.
    if (answered) src.destroy()
    if (!answered && !(await commit())) {
      req.destroy()
      return ''
    }
    if (!answered) {
      req.addTrailers({ ETag: md5() })
      req.end()
    }
    const res = await response
    if (res.statusCode !== 201) throw await refusal(res, `PUT ${container}/${name}`)
    res.resume()
    return String(res.headers.etag ?? '')
  }

  close(): void {
    this.agent.destroy()
  }
}

/** The server's refusal; `status` its HTTP status (the archive shipper tells a 409 apart). */
async function refusal(res: IncomingMessage, what: string): Promise<Error & { status?: number }> {
  let body = ''
  for await (const b of res) body = (body + (b as Buffer).toString()).slice(0, 500)
  return Object.assign(new Error(`the object store refused ${what}: ${res.statusCode} ${body.trim()}`), { status: res.statusCode })
}

let current: ObjectStore | undefined

/** The instance's object store, when its bootstrap names one (a sandbox): set once at the agent's start. */
export function setObjectStore(store: ObjectStore | undefined): void {
  current?.close()
  current = store
}

export function objectStore(): ObjectStore | undefined {
  return current
}
