import { randomBytes } from 'node:crypto'
import { constants as fsc } from 'node:fs'
import { type FileHandle, open, rename, rm, unlink } from 'node:fs/promises'

/**
 * Writes `path` as a new file renamed over the old name: a link a tenant planted at that name (its shell
 * is the engine's user, who owns these directories) is replaced, never written through, and a reader
 * midway sees the old file or the new one, whole. Node has no such call and write-file-atomic follows
 * links by design (it writes the link's target), so it is done here: O_CREAT|O_EXCL|O_NOFOLLOW on a
 * random temporary name beside it, the owner set on the open descriptor, then rename(2).
 */
export async function replaceFile(path: string, data: string | Uint8Array, o: { mode?: number; owner?: { uid: number; gid: number } } = {}): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`
  const fh = await open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, o.mode ?? 0o600)
  try {
    await fh.writeFile(data)
    if (o.owner) await fh.chown(o.owner.uid, o.owner.gid)
    await fh.close()
    await rename(tmp, path)
  } catch (e) {
    await fh.close().catch(() => undefined)
    await rm(tmp, { force: true })
    throw e
  }
}

/**
 * Opens `path` to append (created 0600 when absent) without following a link there: a link a tenant
 * planted at the name (an engine's log, which the agent opens as root without a sandbox and chowns) is
 * removed and a plain file made in its place. Anything else that is not a regular file is refused.
 */
export async function openAppend(path: string, mode = 0o600): Promise<FileHandle> {
  const flags = fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT | fsc.O_NOFOLLOW | fsc.O_NONBLOCK
  let fh: FileHandle
  try {
    fh = await open(path, flags, mode)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ELOOP') throw e
    await unlink(path)
    fh = await open(path, flags | fsc.O_EXCL, mode)
  }
  if (!(await fh.stat()).isFile()) {
    await fh.close()
    throw new Error(`${path} is not a regular file`)
  }
  return fh
}
