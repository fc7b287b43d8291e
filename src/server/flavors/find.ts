import type { Lab } from '../lab.js'
import { flavors, type FlavorRow } from '../db/flavors.js'

export type { FlavorRow }

/** Every flavor (Nova's list, numeric ids in order). */
export function listFlavors(lab: Lab): FlavorRow[] {
  return flavors(lab.db).list()
}

export function findFlavor(lab: Lab, ref: string): FlavorRow | undefined {
  return flavors(lab.db).get(ref)
}
