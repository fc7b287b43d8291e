import { randomUUID } from 'node:crypto'
import { mkdirSync, readdirSync, renameSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { basename, join } from 'node:path'

/**
 * Directories removed off the delete's path: a deleted instance's directory is renamed into DIR/trash (one
 * rename: the instance is gone from its place at once) and removed there in the background. Removing a
 * PostgreSQL data directory (~1,000 files, 39 MB) took ~1.8 s on a filesystem mounted with `discard` (each
 * freed extent is discarded at the journal's commit), all of it inside the delete, and with rmSync inside the
 * server's event loop. Whatever a crash leaves in DIR/trash is removed at the next start (`sweep`).
 */
export class Trash {
  private readonly pending = new Set<Promise<void>>()

  constructor(
    /** DIR/trash: root 0700, on the filesystem of the directories it takes. */
    readonly dir: string,
    private readonly log: (m: string) => void,
  ) {}

  /** Takes `path` out of its place now and removes it in the background (a path that is not there: nothing). */
  discard(path: string): void {
    let aside = join(this.dir, `${basename(path)}.${randomUUID()}`)
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 })
      renameSync(path, aside)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return
      aside = path // another filesystem (EXDEV) or no room for the trash: removed where it is
    }
    this.remove(aside)
  }

  /** Removes what an earlier server left in the trash (in the background). */
  sweep(): void {
    let left: string[] = []
    try {
      left = readdirSync(this.dir)
    } catch {
      return
    }
    for (const name of left) this.remove(join(this.dir, name))
  }

  /** Settles once every removal started so far has ended. */
  async settled(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending])
  }

  private remove(path: string): void {
    const p: Promise<void> = rm(path, { recursive: true, force: true })
      .catch((e: Error) => this.log(`could not remove ${path}: ${e.message}`))
      .finally(() => this.pending.delete(p))
    this.pending.add(p)
  }
}
