/** A configuration value as the API shows it and the guest gets it (JSON scalars). */
export type ConfigValue = string | number | boolean

/** A base configuration, in the order the engine's file lists it (keys as the API shows them). */
export type BaseConfiguration = Record<string, ConfigValue>
