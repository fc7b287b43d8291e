/**
 * Guest service statuses (internals.md 3.2). Codes follow upstream, except that
 * UPGRADING gets its own code: upstream shares 0x22 with RESTARTING, so a stored
 * UPGRADING reads back as RESTARTING (quirk, not copied).
 */
export const ServiceStatus = {
  RUNNING: { code: 0x01, description: 'running', api: 'ACTIVE' },
  BLOCKED: { code: 0x02, description: 'blocked', api: 'BLOCKED' },
  PAUSED: { code: 0x03, description: 'paused', api: 'SHUTDOWN' },
  SHUTDOWN: { code: 0x04, description: 'shutdown', api: 'SHUTDOWN' },
  DELETED: { code: 0x05, description: 'deleted', api: 'DELETED' },
  CRASHED: { code: 0x06, description: 'crashed', api: 'SHUTDOWN' },
  FAILED: { code: 0x08, description: 'failed to spawn', api: 'FAILED' },
  BUILDING: { code: 0x09, description: 'building', api: 'BUILD' },
  PROMOTING: { code: 0x10, description: 'promoting replica', api: 'PROMOTE' },
  EJECTING: { code: 0x11, description: 'ejecting replica source', api: 'EJECT' },
  LOGGING: { code: 0x12, description: 'transferring guest logs', api: 'LOGGING' },
  UNKNOWN: { code: 0x16, description: 'unknown', api: 'ERROR' },
  NEW: { code: 0x17, description: 'new', api: 'NEW' },
  FAILED_TIMEOUT_GUESTAGENT: { code: 0x18, description: 'guestagent error', api: 'ERROR' },
  INSTANCE_READY: { code: 0x19, description: 'instance ready', api: 'BUILD' },
  RESTART_REQUIRED: { code: 0x20, description: 'restart required', api: 'RESTART_REQUIRED' },
  HEALTHY: { code: 0x21, description: 'healthy', api: 'HEALTHY' },
  RESTARTING: { code: 0x22, description: 'restarting', api: 'RESTARTING' },
  UPGRADING: { code: 0x23, description: 'upgrading', api: 'UPGRADING' },
} as const

export type ServiceStatusName = keyof typeof ServiceStatus

/** Statuses a guest reports by measuring its engine. */
export type MeasuredStatus = Extract<ServiceStatusName, 'HEALTHY' | 'RUNNING' | 'SHUTDOWN' | 'CRASHED' | 'BUILDING' | 'FAILED' | 'BLOCKED'>
