// The basic shapes every engine driver and the agent's own modules share (types.ts, the
// Datastore interface, builds on them; keeping them apart keeps the imports acyclic).
import type { AgentBootstrap } from '../../protocol/index.js'
import type { Log } from '../log.js'

/** The instance directory's parts (names from INSTANCE_FILES). */
export interface InstancePaths {
  base: string
  data: string
  run: string
  log: string
  conf: string
  tmp: string
}

/** The unprivileged account the engine runs as. */
export interface RunUser {
  name: string
  uid: number
  gid: number
}

/** Everything an engine driver needs; built once per agent. */
export interface EngineContext {
  bootstrap: AgentBootstrap
  paths: InstancePaths
  user: RunUser
  log: Log
}

/** A program to run: `asUser` drops to the run user with setpriv before exec. */
export interface EngineCommand {
  file: string
  args: string[]
  asUser: boolean
}
