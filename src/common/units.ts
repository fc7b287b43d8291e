/** Bytes in a GB as Trove counts them (volume and backup sizes are GiB on the wire). */
export const GB = 1024 ** 3

/** Upstream's to_gb: two decimals, and never 0.0 for something non-empty. */
export function toGb(bytes: number): number {
  if (bytes <= 0) return 0
  return Math.max(Math.round((bytes / GB) * 100) / 100, 0.01)
}
