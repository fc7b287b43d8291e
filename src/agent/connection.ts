import { readFileSync } from 'node:fs'
import { Socket, isIP } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
// The client alone: the package's index also loads the ws/tls/socks transports (~10 MB RSS).
import mqttClientModule, { type IClientOptions } from 'mqtt/lib/client'
import { commonJsDefault, isFunction } from '../common/commonjs.js'
import { agentEventTopic, agentRpcTopic, encode, type BrokerLocation } from '../protocol/index.js'
import type { Log } from './log.js'

type MqttClientClass = typeof mqttClientModule.default
type MqttClient = InstanceType<MqttClientClass>
const MqttClientClass = commonJsDefault<MqttClientClass>(mqttClientModule as unknown as MqttClientClass, isFunction)

export interface ConnectionOptions {
  instanceId: string
  brokerFile: string
  username: string
  password: string
  /** PEM of the lab's broker CA (the bootstrap pins it); without it the agent never connects. */
  ca?: string
  /** The instance's own address: connections come from it (the broker caps connections per source). */
  localAddress?: string
  log: Log
  onConnect: () => void
  onMessage: (payload: Buffer) => void
}

function brokerLocation(file: string): BrokerLocation {
  const loc = JSON.parse(readFileSync(file, 'utf8')) as Partial<BrokerLocation>
  if (typeof loc.host !== 'string' || typeof loc.port !== 'number') throw Object.assign(new Error(`no host/port in ${file}`), { code: 'EBROKERFILE' })
  return { host: loc.host, port: loc.port }
}

/**
 * The agent's MQTT session, over TLS only: the broker must show a certificate from
 * the CA pinned in the bootstrap, for the host dialled, before mqtt.js sends CONNECT
 * (and so the password): anyone else who binds the broker's port while the server is
 * down gets a failed handshake and nothing else. Every (re)connect re-reads the broker
 * file, because a restarted server may listen on another port; retries run every 500 ms forever.
 * clean: false keeps the broker queueing our rpc messages (QoS 1) while we are away,
 * and the last will tells the server when the connection drops without a goodbye.
 */
export function connectBroker(o: ConnectionOptions): MqttClient {
  let connected = false
  let lastError = ''
  const will = { topic: agentEventTopic(o.instanceId), payload: encode({ kind: 'gone', sent: Date.now() }), qos: 1 as const, retain: false }
  const options: IClientOptions = {
    clientId: o.username,
    username: o.username,
    password: o.password,
    clean: false,
    protocolVersion: 4,
    reconnectPeriod: 500,
    connectTimeout: 5_000,
    keepalive: 15,
    reconnectOnConnackError: true,
    resubscribe: false,
    queueQoSZero: false,
    // mqtt-packet's default pre-builds a Buffer for each of the 65536 packet ids: ~7 MB of heap.
    writeCache: false,
    will,
  }
  const client = new MqttClientClass(() => {
    let loc: BrokerLocation
    try {
      loc = brokerLocation(o.brokerFile)
      if (!o.ca) throw Object.assign(new Error('the bootstrap pins no broker CA: not connecting (the server pins one at its next start)'), { code: 'ENOCA' })
    } catch (err) {
      // mqtt.js reports (emits 'error' for) stream errors with a code only.
      const s = new Socket()
      process.nextTick(() => s.destroy(err as Error))
      return s
    }
    will.payload = encode({ kind: 'gone', sent: Date.now() }) // mqtt.js sends options.will (this object) at each connect
    // noDelay: RPC replies are small writes; Nagle + delayed ACK would add ~40 ms to each.
    // mqtt.js writes CONNECT at once, but a TLS socket holds writes until the handshake
    // (with its certificate check) succeeded; one that fails destroys the socket with them.
    return tlsConnect({
      host: loc.host,
      port: loc.port,
      ca: o.ca,
      ...(isIP(loc.host) ? {} : { servername: loc.host }),
      ...(o.localAddress && isIP(o.localAddress) ? { localAddress: o.localAddress } : {}),
      minVersion: 'TLSv1.2',
    }).setNoDelay(true)
  }, options)
  // Subscribe on every connect: a subscribe queued while offline is failed by mqtt.js
  // when the attempt dies, and a restarted server's broker has no session for us.
  const subscribe = (): void => {
    client.subscribe(agentRpcTopic(o.instanceId), { qos: 1 }, (err, granted) => {
      if (err) o.log(`subscribe failed: ${err.message}`)
      else if (granted?.some((g) => g.qos === 128)) o.log('subscribe refused by the broker')
    })
  }
  client.on('connect', () => {
    connected = true
    lastError = ''
    o.log('connected to the broker')
    subscribe()
    o.onConnect()
  })
  client.on('close', () => {
    if (connected && !client.disconnecting) o.log('broker connection lost, reconnecting')
    connected = false
  })
  // One line per kind of failure, not one per 500 ms retry.
  client.on('error', (err) => {
    const msg = err.message.split('\n')[0] ?? ''
    if (msg !== lastError) o.log(`broker: ${msg}`)
    lastError = msg
  })
  client.on('message', (_topic, payload) => o.onMessage(payload))
  return client
}

/** Disconnect cleanly (no last will); give up waiting after 2 s when the broker is gone. */
export function endConnection(client: MqttClient): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => client.end(true, {}, () => resolve()), 2_000)
    client.end(false, {}, () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

export type { MqttClient }
