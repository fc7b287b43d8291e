import type { RpcMethod, RpcRequest, RpcResult, RpcUncheckedArgs } from '../../protocol/index.js'

/**
 * The agent's implementation of method M: the arguments by the catalogue's names but
 * unchecked (each handler checks its values), the result as the catalogue says.
 */
export type Handler<M extends RpcMethod> = (args: RpcUncheckedArgs<M>, req: RpcRequest) => Promise<RpcResult<M>>

/**
 * The handlers of one part of the catalogue (e.g. AccountRpc): every method of it, no
 * other, so a missing or misspelled handler is a compile error.
 */
export type Handlers<C> = { [M in keyof C & RpcMethod]: Handler<M> }
