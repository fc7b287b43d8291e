import { randomBytes } from 'node:crypto'
import { closeSync, constants as fsc, fchownSync, fstatSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { join } from 'node:path'

// The server's only files inside an instance's volume (its agent's bootstrap), read and written as root
// without ever following a link the guest planted.

/** Reads `name` directly in the volume's root: never through a link, a regular file of at most 1 MB. */
export function readInVolume(mountPoint: string, name: string): string {
  const fd = openSync(join(mountPoint, name), fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK)
  try {
    const st = fstatSync(fd)
    if (!st.isFile() || st.size > 1 << 20) throw new Error(`${name} in the instance's volume is not a plain file of at most 1 MB`)
    return readFileSync(fd, 'utf8')
  } finally {
    closeSync(fd)
  }
}

/**
 * Writes `name` in the volume's root as the instance's file (0600): a new file (O_EXCL, no link
 * followed) renamed over the old one, so neither a link planted by the guest nor a reader midway sees
 * anything but a whole file of ours.
 */
export function writeInVolume(mountPoint: string, name: string, text: string, uid: number, gid: number): void {
  const tmp = join(mountPoint, `.${name}.${randomBytes(6).toString('hex')}.tmp`)
  const fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600)
  try {
    writeSync(fd, text)
    fchownSync(fd, uid, gid)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, join(mountPoint, name))
}
