import type { RpcError } from '../protocol/index.js'
import { oneLine } from './engine-process.js'

/** An error with an explicit type for the reply (otherwise it is a GuestError). */
export class RpcFailure extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message)
  }
}

/** Errors become a type and one line of message: no stack, nothing but our own text. */
export function toRpcError(err: unknown): RpcError {
  if (err instanceof RpcFailure) return { type: err.type, message: oneLine(err.message) }
  return { type: 'GuestError', message: oneLine(err instanceof Error ? err.message : String(err)) }
}
