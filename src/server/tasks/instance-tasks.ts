/** Instance task statuses (internals.md 3.1): code, action, description, is_error. */
export const InstanceTask = {
  NONE: { id: 0x01, action: 'NONE', description: 'No tasks for the instance.', error: false },
  DELETING: { id: 0x02, action: 'DELETING', description: 'Deleting the instance.', error: false },
  REBOOTING: { id: 0x03, action: 'REBOOTING', description: 'Rebooting the instance.', error: false },
  RESIZING: { id: 0x04, action: 'RESIZING', description: 'Resizing the instance.', error: false },
  BUILDING: { id: 0x05, action: 'BUILDING', description: 'The instance is building.', error: false },
  RESTART_REQUIRED: { id: 0x07, action: 'RESTART_REQUIRED', description: 'Instance requires a restart.', error: false },
  UPDATING: { id: 0x0c, action: 'UPDATING', description: 'Updating the instance.', error: false },
  BUILDING_ERROR_SERVER: { id: 0x51, action: 'BUILDING', description: 'Build error: Server.', error: true },
  BUILDING_ERROR_TIMEOUT_GA: { id: 0x5b, action: 'ERROR', description: 'Build error: guestagent timeout.', error: true },
} as const

export type InstanceTaskName = keyof typeof InstanceTask

const BY_ID = new Map<number, (typeof InstanceTask)[InstanceTaskName]>(Object.values(InstanceTask).map((t) => [t.id, t]))
export function taskById(id: number) {
  return BY_ID.get(id) ?? InstanceTask.NONE
}
