/**
 * The object store a sandboxed agent reaches over the lab bridge (docs/isolation.md, "the stream"): a
 * Swift-like subset served by the server on the lab's gateway with TLS (the lab CA the agent pins),
 * `/v1/trove/<container>/<object>`: PUT (streamed, chunked; the server writes the file and computes its
 * MD5, answered as the ETag; an `ETag` sent by the agent is compared), GET (streamed), HEAD, DELETE.
 * The agent authenticates with its MQTT credential (HTTP Basic): it already holds it, the server
 * already verifies it for the broker, and revoking it at delete ends both.
 */

/** The backup store's container: objects `<backup id><ext>` and `<backup id>.meta.json`. */
export const BACKUP_CONTAINER = 'backups'
/** Upstream's guest_log_container_name: objects `<instance>/<datastore>-<log>/log-<time>` and `..._metafile`. */
export const LOG_CONTAINER = 'database_logs'
export const OBJECT_STORE_PREFIX = '/v1/trove'

/** One segment of an object name: no `.`/`..`, no slash, no NUL, nothing that needs percent-encoding. */
const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._:-]{0,199}$/

/** Is `name` a well-formed object name (segments joined by `/`, at most 4 of them)? */
export function validObjectName(name: string): boolean {
  const parts = name.split('/')
  return parts.length <= 4 && parts.every((p) => SEGMENT.test(p))
}

/** The path of an object (or of a prefix, with a trailing slash, for a DELETE of everything under it). */
export function objectPath(container: string, name: string): string {
  return `${OBJECT_STORE_PREFIX}/${container}/${name}`
}
