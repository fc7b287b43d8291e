/** Instance task statuses (internals.md 3.1): code, action, description, is_error. */
export const InstanceTask = {
  NONE: { id: 0x01, action: 'NONE', description: 'No tasks for the instance.', error: false },
  DELETING: { id: 0x02, action: 'DELETING', description: 'Deleting the instance.', error: false },
  REBOOTING: { id: 0x03, action: 'REBOOTING', description: 'Rebooting the instance.', error: false },
  RESIZING: { id: 0x04, action: 'RESIZING', description: 'Resizing the instance.', error: false },
  BUILDING: { id: 0x05, action: 'BUILDING', description: 'The instance is building.', error: false },
  RESTART_REQUIRED: { id: 0x07, action: 'RESTART_REQUIRED', description: 'Instance requires a restart.', error: false },
  PROMOTING: { id: 0x08, action: 'PROMOTING', description: 'Promoting the instance to replica source.', error: false },
  EJECTING: { id: 0x09, action: 'EJECTING', description: 'Ejecting the replica source.', error: false },
  DETACHING: { id: 0x0b, action: 'DETACHING', description: 'Detaching the instance from replica source.', error: false },
  BUILDING_ERROR_REPLICA: { id: 0x54, action: 'BUILDING', description: 'Build error: Replica.', error: true },
  PROMOTION_ERROR: { id: 0x55, action: 'PROMOTING', description: 'Replica Promotion Error.', error: true },
  EJECTION_ERROR: { id: 0x56, action: 'EJECTING', description: 'Replica Source Ejection Error.', error: true },
  // Lab extension (issue 16): an ejected source rejoining its set as a replica, the tail of its ejection.
  REJOINING: { id: 0x70, action: 'EJECTING', description: 'Rejoining the replication set as a replica.', error: false },
  REJOIN_ERROR: { id: 0x71, action: 'EJECTING', description: 'Rejoin of the replication set failed.', error: true },
  UPDATING: { id: 0x0c, action: 'UPDATING', description: 'Updating the instance.', error: false },
  UPGRADING: { id: 0x59, action: 'UPGRADING', description: 'Upgrading the instance.', error: false },
  BUILDING_ERROR_SERVER: { id: 0x51, action: 'BUILDING', description: 'Build error: Server.', error: true },
  UPDATING_ERROR_ACCESS: { id: 0x5d, action: 'UPDATING', description: 'Updating instance failed: access.', error: true },
  BUILDING_ERROR_TIMEOUT_GA: { id: 0x5b, action: 'ERROR', description: 'Build error: guestagent timeout.', error: true },
} as const

export type InstanceTaskName = keyof typeof InstanceTask

const BY_ID = new Map<number, (typeof InstanceTask)[InstanceTaskName]>(Object.values(InstanceTask).map((t) => [t.id, t]))
export function taskById(id: number) {
  return BY_ID.get(id) ?? InstanceTask.NONE
}
