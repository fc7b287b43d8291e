// Simulated agents for bench/heartbeats.mjs, run in a process of its own (forked with IPC), so their CPU
// is not the server's. Each client connects like `trove agent` (TLS with the lab's CA, from an address of its own, client id = user name, clean: false,
// keepalive 15 s, subscribes to its rpc topic at QoS 1) with the per-agent credentials the server issued,
// then, on 'go', publishes a heartbeat event (QoS 1) every periodMs, phases spread over the period.
// Messages from the parent: { agents: [{ id, username, password }], port } -> { connected, failed };
// { go: periodMs } -> heartbeats start; { stop: true } -> { sent, acked } and the clients disconnect.
import mqtt from 'mqtt'
import { agentEventTopic, agentRpcTopic, encode } from '../dist/protocol/index.js'

let clients = []
let timers = []
let sent = 0
let acked = 0

async function connectAll(agents, port, ca) {
  let failed = 0
  const queue = [...agents]
  // At most 25 CONNECTs in flight per process: what a fleet of agents starting over a few seconds does.
  await Promise.all(
    Array.from({ length: 25 }, async () => {
      for (let a = queue.shift(); a; a = queue.shift()) {
        const agent = a
        try {
          const c = await mqtt.connectAsync({
            host: '127.0.0.1',
            port,
            protocol: 'mqtts',
            ca,
            localAddress: agent.localAddress,
            clientId: agent.username,
            username: agent.username,
            password: agent.password,
            clean: false,
            protocolVersion: 4,
            keepalive: 15,
            reconnectPeriod: 1000,
            connectTimeout: 10_000,
            resubscribe: false,
            writeCache: false,
          })
          await c.subscribeAsync(agentRpcTopic(agent.id), { qos: 1 })
          clients.push({ c, agent, last: 0 })
        } catch {
          failed++
        }
      }
    }),
  )
  return { connected: clients.length, failed }
}

function go(periodMs) {
  for (const [i, cl] of clients.entries()) {
    const beat = () => {
      const s = Math.max(Date.now(), cl.last + 1)
      cl.last = s
      sent++
      cl.c.publish(agentEventTopic(cl.agent.id), encode({ kind: 'heartbeat', sent: s, status: 'HEALTHY', agentPid: process.pid }), { qos: 1 }, (err) => {
        if (!err) acked++
      })
    }
    timers.push(
      setTimeout(
        () => {
          beat()
          timers.push(setInterval(beat, periodMs))
        },
        Math.floor((i / clients.length) * periodMs),
      ),
    )
  }
}

async function stop() {
  for (const t of timers) {
    clearTimeout(t)
    clearInterval(t)
  }
  timers = []
  const result = { sent, acked }
  await Promise.all(clients.map(({ c }) => c.endAsync(false).catch(() => c.end(true))))
  clients = []
  return result
}

process.on('message', async (m) => {
  if (m.agents) process.send({ connectedReply: await connectAll(m.agents, m.port, m.ca) })
  else if (m.go) {
    go(m.go)
    process.send({ going: true })
  } else if (m.stop) process.send({ stopped: await stop() })
})
process.on('disconnect', () => {
  void stop().finally(() => process.exit(0))
})
process.send({ ready: true })
