import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'
import { chmodSync, closeSync, openSync, readFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'

const KEY_FILE = 'module-contents.key'
const FORMAT = 'v1'

/**
 * Module contents at rest: AES-256-GCM under a key of this lab kept in
 * DATA_DIR/module-contents.key (0600), made on first use. Upstream encrypts with
 * AES-CBC under a key from trove.conf (module_aes_cbc_key), with a well-known
 * default; a per-lab random key and an authenticated mode replace both.
 * Stored form: "v1:" + base64(iv(12) | tag(16) | ciphertext).
 */
export class ModuleContentsCipher {
  private key: Buffer | undefined

  constructor(private readonly dataDir: string) {}

  private loadKey(): Buffer {
    if (this.key) return this.key
    const file = join(this.dataDir, KEY_FILE)
    try {
      // 'wx': exactly one writer creates it, even with two servers racing on a data dir.
      const fd = openSync(file, 'wx', 0o600)
      try {
        writeSync(fd, randomBytes(32).toString('base64') + '\n')
      } finally {
        closeSync(fd)
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
    }
    chmodSync(file, 0o600)
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64')
    if (key.length !== 32) throw new Error(`${file} does not hold a 256-bit key`)
    this.key = key
    return key
  }

  encrypt(clear: string): string {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.loadKey(), iv)
    const body = Buffer.concat([cipher.update(clear, 'utf8'), cipher.final()])
    return `${FORMAT}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`
  }

  decrypt(stored: string): string {
    if (!stored.startsWith(`${FORMAT}:`)) throw new Error('unknown module contents format')
    const raw = Buffer.from(stored.slice(FORMAT.length + 1), 'base64')
    const decipher = createDecipheriv('aes-256-gcm', this.loadKey(), raw.subarray(0, 12))
    decipher.setAuthTag(raw.subarray(12, 28))
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')
  }
}

/** Upstream's module md5: of the contents as sent (the client sends base64 text), UTF-8 encoded. */
export function contentsMd5(clear: string): string {
  return createHash('md5').update(clear, 'utf8').digest('hex')
}
