/**
 * Every MQTT topic string lives here (CONVENTIONS 12). Each agent owns the subtree
 * `trove/agent/<instance id>/`: it reads `rpc` and writes `reply` and `event`.
 * The server's broker hooks enforce exactly this, so an agent cannot read or write
 * another instance's traffic.
 */
export const TOPIC_PREFIX = 'trove'

/** Server -> agent: RPC requests (calls and casts). */
export function agentRpcTopic(instanceId: string): string {
  return `${TOPIC_PREFIX}/agent/${instanceId}/rpc`
}

/** Agent -> server: replies to calls. */
export function agentReplyTopic(instanceId: string): string {
  return `${TOPIC_PREFIX}/agent/${instanceId}/reply`
}

/** Agent -> server: heartbeats and other conductor casts (also the last will). */
export function agentEventTopic(instanceId: string): string {
  return `${TOPIC_PREFIX}/agent/${instanceId}/event`
}

/** Server subscriptions that cover every agent. */
export const ALL_AGENT_REPLIES = `${TOPIC_PREFIX}/agent/+/reply`
export const ALL_AGENT_EVENTS = `${TOPIC_PREFIX}/agent/+/event`

/** Notifications for subscribers (issue 3 fills in the event types). */
export function notificationTopic(eventType: string): string {
  return `${TOPIC_PREFIX}/notify/${eventType}`
}

/** MQTT user name of an instance's agent. */
export function agentMqttUser(instanceId: string): string {
  return `agent-${instanceId}`
}

/** The instance id in an `agent-<id>` user name, or undefined. */
export function instanceIdFromAgentUser(user: string): string | undefined {
  return user.startsWith('agent-') ? user.slice('agent-'.length) : undefined
}

/** The instance id in a `trove/agent/<id>/...` topic, or undefined. */
export function instanceIdFromTopic(topic: string): string | undefined {
  const parts = topic.split('/')
  return parts.length === 4 && parts[0] === TOPIC_PREFIX && parts[1] === 'agent' ? parts[2] : undefined
}

/** What an agent may do with a topic: the whole ACL in one place. */
export function agentMay(instanceId: string, action: 'publish' | 'subscribe', topic: string): boolean {
  if (action === 'subscribe') return topic === agentRpcTopic(instanceId)
  return topic === agentReplyTopic(instanceId) || topic === agentEventTopic(instanceId)
}

/**
 * The largest MQTT packet the broker takes from an authenticated client (agents'
 * replies and events); a bigger one drops the connection. Agents check their replies
 * against it (with room for the topic and header) and send an error instead.
 */
export const MAX_MQTT_PACKET = 1024 * 1024
