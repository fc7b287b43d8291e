import type { DB } from './index.js'
import { repository } from './repository.js'

/** An agent's MQTT credential: a salted SHA-256 of its secret (broker/index.ts says why that suffices). */
export interface AgentCredentialRow {
  instance_id: string
  salt: string
  digest: string
}

/** The agent_credentials table: one credential per instance. */
export class AgentCredentialRows {
  private readonly s

  constructor(db: DB) {
    this.s = {
      put: db.prepare('INSERT OR REPLACE INTO agent_credentials (instance_id, username, salt, digest, created) VALUES (?, ?, ?, ?, ?)'),
      byUsername: db.prepare('SELECT instance_id, salt, digest FROM agent_credentials WHERE username = ?'),
      delete: db.prepare('DELETE FROM agent_credentials WHERE instance_id = ?'),
    }
  }

  /** Sets (or replaces) an instance's credential. */
  put(instanceId: string, username: string, salt: string, digest: string, created: string): void {
    this.s.put.run(instanceId, username, salt, digest, created)
  }

  byUsername(username: string): AgentCredentialRow | undefined {
    return this.s.byUsername.get(username) as AgentCredentialRow | undefined
  }

  delete(instanceId: string): void {
    this.s.delete.run(instanceId)
  }
}

export const agentCredentials = repository((db) => new AgentCredentialRows(db))
