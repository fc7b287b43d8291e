import { readFile } from 'node:fs/promises'
import { dropDriver, keptDriver } from '../drivers.js'
import { RespConnection } from './resp.js'

export interface RedisClient {
  /**
   * Sends the commands in order, each as its own argument vector (no quoting: RESP
   * carries every argument as bytes), and returns the replies as lines: an array
   * reply gives one line per element, a text reply (INFO) one per line. An error
   * reply rejects with the server's message ("ERR ...", "WRONGPASS ...").
   */
  run(commands: string[][]): Promise<string[]>
}

interface Conn {
  password: string
  redis: RespConnection
  close(): Promise<void>
}

function lines(reply: unknown): string[] {
  if (reply === null || reply === undefined) return []
  if (Array.isArray(reply)) return reply.flatMap(lines)
  if (Buffer.isBuffer(reply)) return lines(reply.toString('utf8'))
  return String(reply)
    .split(/\r?\n/)
    .filter((l) => l !== '')
}

const clientError = (e: unknown): Error => new Error(e instanceof Error ? e.message : String(e))

/**
 * One connection as the admin (the `default` user) over the unix socket, kept by the
 * agent; the password comes from the 0600 secret file and is only ever in this process.
 * No reconnect loop and no offline queue: when the server goes away the connection is
 * dropped and the next command connects again (re-reading the secret, which a restore
 * may have changed). RESP through node-redis's decoder and encoder only (resp.ts: the
 * whole client cost the agent 14 MB).
 */
async function connection(socket: string, secretFile: string): Promise<Conn> {
  const key = `redis:${socket}`
  const password = (await readFile(secretFile, 'utf8')).trim()
  const have = await keptDriver<Conn>(key, () => open(key, socket, password))
  if (have.password === password && have.redis.open) return have
  await dropDriver(key, have)
  return keptDriver<Conn>(key, () => open(key, socket, password))
}

async function open(key: string, socket: string, password: string): Promise<Conn> {
  const redis = await RespConnection.open(socket, password).catch((e: unknown) => {
    throw clientError(e)
  })
  const conn: Conn = {
    password,
    redis,
    close: async () => redis.close(),
  }
  redis.onEnd(() => void dropDriver(key, conn))
  return conn
}

export function redisClient(socket: string, secretFile: string): RedisClient {
  return {
    async run(commands) {
      const conn = await connection(socket, secretFile)
      const out: string[] = []
      for (const args of commands)
        out.push(
          ...lines(
            await conn.redis.command(args).catch((e: unknown) => {
              throw clientError(e)
            }),
          ),
        )
      return out
    },
  }
}
