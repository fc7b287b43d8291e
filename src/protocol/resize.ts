/**
 * Resize, upgrade and access between server and guest (internals.md 1.2, 2). The
 * server rewrites agent.json with the new values too, so an agent started later
 * reads what the running one was told.
 */

/** A flavor as the agent renders memory settings from it (bootstrap.flavor). */
export interface FlavorSpec {
  ramMb: number
  vcpus: number
}

/**
 * Who may reach the engine over TCP (the instance's `access`). `allowedCidrs` empty:
 * anyone (upstream's default 0.0.0.0/0). `isPublic` is recorded only: every
 * instance of the lab is on loopback, there is no public network to publish it on.
 */
export interface AccessSpec {
  isPublic: boolean
  allowedCidrs: string[]
}

/** The datastore version the engine runs (bootstrap.datastore's version and binDir). */
export interface UpgradeSpec {
  version: string
  binDir?: string
}

/** Args of start_db_with_conf_changes and reset_configuration: the flavor to render the config for. */
export interface ConfChangesArgs {
  flavor: FlavorSpec
}

/** Args of resize_fs: the volume's new size in GB. */
export interface ResizeFsArgs {
  volumeSize: number
}
