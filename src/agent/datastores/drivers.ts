/**
 * The connections the agent keeps to its engine through the engine's Node driver
 * (node-postgres, MariaDB's connector, node-redis): one small pool per engine socket,
 * opened on first use, dropped when the engine goes away (the next statement opens a
 * fresh one: that is the reconnect after an engine restart), closed when the agent stops
 * or stops the engine. This file imports no driver: each engine's driver module loads its
 * package with import() only when that engine is used, so the agent carries one driver.
 */
export interface DriverHandle {
  close(): Promise<void>
}

const open = new Map<string, DriverHandle>()

/** The kept handle under `key`, made by `make` when there is none. */
export async function keptDriver<T extends DriverHandle>(key: string, make: () => Promise<T>): Promise<T> {
  const have = open.get(key) as T | undefined
  if (have) return have
  const made = await make()
  const raced = open.get(key) as T | undefined
  if (raced) {
    await made.close().catch(() => undefined)
    return raced
  }
  open.set(key, made)
  return made
}

/** Forgets `key` (its engine went away) and closes it, if it is still the kept one. */
export async function dropDriver(key: string, handle?: DriverHandle): Promise<void> {
  const have = open.get(key)
  if (!have || (handle && have !== handle)) return
  open.delete(key)
  await have.close().catch(() => undefined)
}

/** Closes every kept connection (agent stop, engine stop). */
export async function closeDrivers(): Promise<void> {
  const all = [...open.values()]
  open.clear()
  await Promise.all(all.map((h) => h.close().catch(() => undefined)))
}

/** How many connections are kept (tests). */
export const keptDrivers = (): number => open.size
