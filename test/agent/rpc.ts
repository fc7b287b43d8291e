import t from 'tap'
import type { RpcReply, RpcRequest } from '../../src/protocol/index.js'
import { RpcDispatcher, encodeReply, type RpcHandler } from '../../src/agent/rpc.js'
import { RpcFailure } from '../../src/agent/rpc-failure.js'
import { agentMethods } from '../../src/agent/handlers/index.js'
import { MAX_MQTT_PACKET } from '../../src/protocol/index.js'

function setup(methods: Record<string, RpcHandler>) {
  const sent: RpcReply[] = []
  const after: string[] = []
  const lines: string[] = []
  const d = new RpcDispatcher(
    methods,
    async (r) => void sent.push(r),
    (l) => lines.push(l),
    (req) => after.push(req.method),
  )
  return { d, sent, after, lines }
}

const req = (o: Partial<RpcRequest>): RpcRequest => ({ id: 'r1', method: 'rpc_ping', args: {}, sent: Date.now(), reply: true, ...o })

t.test('a call gets a reply with its id', async (t) => {
  const { d, sent, after } = setup({ rpc_ping: async () => true })
  await d.handle(req({}))
  t.same(sent, [{ id: 'r1', ok: true, result: true }])
  t.same(after, ['rpc_ping'])
})

t.test('a repeated id is answered from the cache without running again', async (t) => {
  let runs = 0
  const { d, sent } = setup({ restart: async () => ++runs })
  await d.handle(req({ method: 'restart' }))
  await d.handle(req({ method: 'restart' }))
  t.equal(runs, 1)
  t.same(sent, [
    { id: 'r1', ok: true, result: 1 },
    { id: 'r1', ok: true, result: 1 },
  ])
})

t.test('a copy arriving while the first still runs is dropped', async (t) => {
  let release!: () => void
  let runs = 0
  const { d, sent } = setup({
    restart: () => {
      runs++
      return new Promise((r) => (release = () => r(null)))
    },
  })
  const first = d.handle(req({ method: 'restart' }))
  await d.handle(req({ method: 'restart' }))
  release()
  await first
  t.equal(runs, 1)
  t.equal(sent.length, 1)
})

t.test('casts run once and get no reply', async (t) => {
  let runs = 0
  const { d, sent } = setup({ prepare: async () => ++runs })
  await d.handle(req({ method: 'prepare', reply: false }))
  await d.handle(req({ method: 'prepare', reply: false }))
  t.equal(runs, 1)
  t.same(sent, [])
})

t.test('errors: NotSupported, typed failures, and no stacks', async (t) => {
  const { d, sent } = setup({
    stop_db: async () => {
      throw new RpcFailure('BadRequest', 'nope')
    },
    restart: async () => {
      const e = new Error('first line\n    at secret (/x.js:1:1)')
      throw e
    },
  })
  await d.handle(req({ id: 'a', method: 'frobnicate' as RpcRequest['method'] }))
  await d.handle(req({ id: 'b', method: 'stop_db' }))
  await d.handle(req({ id: 'c', method: 'restart' }))
  await d.handle(req({ id: 'd', method: 'toString' as RpcRequest['method'] }))
  t.same(sent, [
    { id: 'a', ok: false, error: { type: 'NotSupported', message: 'method frobnicate is not supported' } },
    { id: 'b', ok: false, error: { type: 'BadRequest', message: 'nope' } },
    { id: 'c', ok: false, error: { type: 'GuestError', message: 'first line at secret (/x.js:1:1)' } },
    { id: 'd', ok: false, error: { type: 'NotSupported', message: 'method toString is not supported' } },
  ])
})

t.test('a request that expired in transit is not run', async (t) => {
  let runs = 0
  const { d, sent } = setup({ restart: async () => ++runs })
  await d.handle(req({ method: 'restart', sent: Date.now() - 10_000, timeoutMs: 5_000 }))
  t.equal(runs, 0)
  t.equal(sent[0]!.error!.type, 'Timeout')
})

t.test('malformed messages are ignored', async (t) => {
  const { d, sent, lines } = setup({})
  await d.handle(undefined)
  await d.handle({ method: 'rpc_ping' } as Partial<RpcRequest>)
  t.same(sent, [])
  t.equal(lines.length, 2)
})

t.test('the method table maps to the operations', async (t) => {
  const calls: string[] = []
  const m = agentMethods({
    prepare: async () => void calls.push('prepare'),
    stopDb: async () => void calls.push('stopDb'),
    restart: async (ms) => void calls.push(`restart ${ms}`),
    shutdown: async () => void calls.push('shutdown'),
    filesystemStats: async () => ({ used: 0.1, total: 1, free: 5 }),
  })
  t.same(Object.keys(m).sort(), ['get_filesystem_stats', 'prepare', 'restart', 'rpc_ping', 'shutdown_agent', 'stop_db'])
  t.equal(await m.rpc_ping!({}, req({})), true)
  t.same(await m.get_filesystem_stats!({}, req({})), { used: 0.1, total: 1, free: 5 })
  for (const k of ['prepare', 'stop_db', 'restart', 'shutdown_agent']) t.equal(await m[k]!({}, req({ timeoutMs: 9 })), null)
  t.same(calls, ['prepare', 'stopDb', 'restart 9', 'shutdown'])
})

t.test('a reply too big for the broker goes out as a ReplyTooLarge error', async (t) => {
  const lines: string[] = []
  const small = encodeReply({ id: 'r1', ok: true, result: ['a'] }, (l) => lines.push(l))
  t.same(JSON.parse(small.toString()), { id: 'r1', ok: true, result: ['a'] }, 'a small reply as it is')
  const big = encodeReply({ id: 'r2', ok: true, result: 'x'.repeat(MAX_MQTT_PACKET) }, (l) => lines.push(l))
  t.ok(big.length < 1024, 'what goes out is small')
  t.match(JSON.parse(big.toString()), { id: 'r2', ok: false, error: { type: 'ReplyTooLarge', message: /exceeds the message size limit \(1048576 bytes\)/ } })
  t.match(lines, [/rpc reply r2: \d+ bytes, over the broker's limit/])
})
