import { socketProbe } from '../socket-probe.js'

function command(...args: string[]): string {
  return `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')
}

/**
 * AUTH + PING over the unix socket; only +PONG counts (redis-cli ping "succeeds" on
 * NOAUTH). While loading the dataset PING answers -LOADING: up, not yet answering.
 */
export function redisPing(socketPath: string, password: string, timeoutMs: number): Promise<boolean> {
  const request = Buffer.from(command('AUTH', password) + command('PING'))
  return socketProbe(socketPath, timeoutMs, request, (buf) => {
    const lines = buf.toString().split('\r\n')
    if (lines.length < 3) return undefined // two complete replies end in "\r\n"
    return lines[0] === '+OK' && lines[1] === '+PONG'
  })
}
