import { commonJsDefault, isFunction } from '../../../common/commonjs.js'
import { createConnection, type Socket } from 'node:net'

/**
 * One RESP connection to Redis over its unix socket, speaking through node-redis's own
 * RESP decoder and command encoder (the two modules of @redis/client the whole client is
 * built on) instead of the whole client: the client (commands, cluster, sentinel, client-
 * side cache, pools) costs the agent about 14 MB of RSS under --jitless, these two about
 * 1 MB (issue 13 item 7: the Redis agent's RSS goal of 60 MB). What is hand-written here
 * is only what no library does for a single kept socket: the reply queue, AUTH and the
 * socket's end. The modules are reached by their file path (@redis/client has no
 * "exports" map, so the path is importable; package.json pins the major version).
 *
 * Every argument goes out as a RESP bulk string (length-prefixed bytes, no quoting, no
 * injection). No reconnect loop and no offline queue: when the socket ends, every
 * command waiting and every later one rejects; the owner opens a new connection.
 */
export class RespConnection {
  private readonly waiting: Array<{ resolve: (r: unknown) => void; reject: (e: Error) => void }> = []
  private failure: Error | undefined
  private readonly ended: Array<() => void> = []

  private constructor(
    private readonly sock: Socket,
    private readonly encode: (args: readonly string[]) => readonly (string | Buffer)[],
    Decoder: RespModules['Decoder'],
  ) {
    const decoder = new Decoder({
      onReply: (reply: unknown) => this.waiting.shift()?.resolve(reply),
      // The server's own text ("ERR ...", "WRONGPASS ..."): the guest error carries it as it is.
      onErrorReply: (err: Error) => this.waiting.shift()?.reject(new Error(err.message)),
      onPush: () => undefined,
      // No mapping: bulk strings decode to strings, integers to numbers, arrays to arrays.
      getTypeMapping: () => ({}),
    })
    sock.on('data', (d: Buffer) => {
      try {
        decoder.write(d)
      } catch (e) {
        sock.destroy(e instanceof Error ? e : new Error(String(e)))
      }
    })
    const fail = (e: Error) => {
      this.failure ??= e
      for (const w of this.waiting.splice(0)) w.reject(this.failure)
      for (const f of this.ended.splice(0)) f()
    }
    sock.on('error', fail)
    sock.on('close', () => fail(new Error('the redis connection closed')))
  }

  /** Connects to the unix socket at `path` and authenticates as `default` with `password`. */
  static async open(path: string, password: string, timeoutMs = 30_000): Promise<RespConnection> {
    const { Decoder, encode } = await resp()
    const sock = createConnection(path)
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => sock.destroy(new Error(`connect to ${path} timed out after ${timeoutMs} ms`)), timeoutMs)
      sock.once('connect', () => {
        clearTimeout(timer)
        resolve()
      })
      sock.once('error', (e) => {
        clearTimeout(timer)
        reject(e)
      })
    })
    const c = new RespConnection(sock, encode, Decoder)
    try {
      await c.command(['AUTH', password])
    } catch (e) {
      c.close()
      throw e
    }
    return c
  }

  /** Sends one command (one argument vector); resolves with its reply, rejects with an error reply's text. */
  command(args: readonly string[]): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure)
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject })
      for (const part of this.encode(args)) this.sock.write(part)
    })
  }

  /** Runs `f` once when the socket ends (the server went away, or close()). */
  onEnd(f: () => void): void {
    if (this.failure) f()
    else this.ended.push(f)
  }

  get open(): boolean {
    return !this.failure
  }

  close(): void {
    this.sock.destroy()
  }
}

interface RespModules {
  Decoder: typeof import('@redis/client/dist/lib/RESP/decoder.js').Decoder
  encode: (args: readonly string[]) => readonly (string | Buffer)[]
}

let loading: Promise<RespModules> | undefined
/** The two modules, loaded the first time a Redis instance needs them (the agent of another engine never does). */
const resp = (): Promise<RespModules> =>
  (loading ??= Promise.all([import('@redis/client/dist/lib/RESP/decoder.js'), import('@redis/client/dist/lib/RESP/encoder.js')]).then(([d, e]) => ({
    Decoder: d.Decoder,
    encode: commonJsDefault<RespModules['encode']>(e.default as unknown as RespModules['encode'], isFunction),
  })))
