import { createServer } from 'node:net'
import { claimName, releaseName } from './claims.js'

/**
 * Loopback addresses for instances (127.0.0.2 upwards), like a private network
 * where each instance is its own host. An address is taken only when
 *  - nothing on this machine listens on the engine's port there (probed by binding), and
 *  - no other trove server on this machine has claimed it: a claim is a file created
 *    with O_EXCL in a machine-wide directory, naming the instance directory that owns
 *    it. A claim whose instance directory is gone is stale and may be taken over (claims.ts).
 * The claim closes the window between probing and the engine binding its port, which
 * matters when several labs (e.g. parallel test runs) share the machine.
 */
export const CLAIM_DIR = process.env.TROVE_ADDRESS_CLAIMS ?? '/run/trove/addresses'

function* candidates(): Generator<string> {
  for (let b = 0; b < 256; b++) for (let c = b === 0 ? 2 : 1; c < 255; c++) yield `127.0.${b}.${c}`
}

/** Whether `port` can be bound on `address` right now (probed by binding it). */
export function portFree(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen({ host: address, port, exclusive: true }, () => s.close(() => resolve(true)))
  })
}

/** Claims the address for `ownerDir`; false if a live owner holds it (claims.ts). */
export function claim(address: string, ownerDir: string): boolean {
  return claimName(CLAIM_DIR, address, ownerDir)
}

export function release(address: string, ownerDir: string): void {
  releaseName(CLAIM_DIR, address, ownerDir)
}

/**
 * Finds and claims a free address for an engine on `port`, skipping `inUse`
 * (addresses this server's database already holds).
 */
export async function allocate(port: number, ownerDir: string, inUse: Set<string>): Promise<string> {
  for (const address of candidates()) {
    if (inUse.has(address)) continue
    if (!(await portFree(address, port))) continue
    if (claim(address, ownerDir)) return address
  }
  throw new Error('no free loopback address left in 127.0.0.0/16')
}
