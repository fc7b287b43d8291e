import { execFileSync } from 'node:child_process'
import { X509Certificate, randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { isIP } from 'node:net'
import { join } from 'node:path'

/** What the broker's TLS listener needs, and the CA certificate agents pin. */
export interface BrokerTls {
  /** PEM of the lab's CA certificate: pinned in each agent's bootstrap. */
  ca: string
  /** Path of that certificate (public; for external subscribers' --cafile). */
  caFile: string
  key: string
  cert: string
}

const CA_DAYS = 3650
const SERVER_DAYS = 825
/** A server certificate closer than this to its end is issued again at start. */
const RENEW_BEFORE_MS = 30 * 86_400_000

// node:crypto parses X.509 but cannot issue it, so certificates come from the openssl
// binary. No secret passes on a command line: keys are written by openssl into `dir`
// (root, 0700) and are never passphrase-protected (the directory is their protection).
function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] })
}

/** `openssl req` arguments for a certificate with a new P-256 key, unencrypted (its directory protects it). */
const NEW_CERT_AND_KEY = ['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

function subjectAltNames(hosts: string[]): string {
  return hosts.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(',')
}

/** Does `cert` (PEM) name every host, come from `caPem`, and stay valid long enough? */
function serverCertFits(certPem: string, caPem: string, hosts: string[]): boolean {
  try {
    const cert = new X509Certificate(certPem)
    const ca = new X509Certificate(caPem)
    if (!cert.verify(ca.publicKey)) return false
    if (Date.parse(cert.validTo) - Date.now() < RENEW_BEFORE_MS) return false
    return hosts.every((h) => (isIP(h) ? cert.checkIP(h) : cert.checkHost(h)) !== undefined)
  } catch {
    return false
  }
}

/**
 * The lab's own certificate authority and the broker's certificate, in `dir`
 * (root-only 0700; keys 0600). The CA is made once, at the first start, and never
 * changes while its files exist: agents pin it. The server certificate is issued
 * again whenever `hosts` (the addresses agents dial: today the loopback listen
 * address, later bridge addresses too) are not all in it, or it nears its end;
 * agents keep working because they trust the CA, not one certificate.
 */
export function ensureBrokerTls(dir: string, hosts: string[]): BrokerTls {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  chmodSync(dir, 0o700)
  const caKey = join(dir, 'ca.key')
  const caCrt = join(dir, 'ca.crt')
  if (!existsSync(caKey) || !existsSync(caCrt)) {
    openssl(
      [
        ...NEW_CERT_AND_KEY,
        '-keyout',
        'ca.key.tmp',
        '-out',
        'ca.crt.tmp',
        '-days',
        String(CA_DAYS),
        '-subj',
        '/CN=trove lab broker CA',
        '-addext',
        'basicConstraints=critical,CA:TRUE,pathlen:0',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      dir,
    )
    chmodSync(join(dir, 'ca.key.tmp'), 0o600)
    chmodSync(join(dir, 'ca.crt.tmp'), 0o644)
    renameSync(join(dir, 'ca.key.tmp'), caKey)
    renameSync(join(dir, 'ca.crt.tmp'), caCrt)
    rmSync(join(dir, 'server.crt'), { force: true })
  }
  chmodSync(caKey, 0o600)
  const ca = readFileSync(caCrt, 'utf8')
  const key = join(dir, 'server.key')
  const crt = join(dir, 'server.crt')
  if (!existsSync(key) || !existsSync(crt) || !serverCertFits(readFileSync(crt, 'utf8'), ca, hosts)) {
    // One openssl run makes the key and issues the certificate (`req -x509 -CA`, OpenSSL 3): a
    // lab's first start ran three, ~95 ms each with the event loop blocked (issue 11).
    openssl(
      [
        ...NEW_CERT_AND_KEY,
        '-keyout',
        'server.key.tmp',
        '-out',
        'server.crt.tmp',
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-set_serial',
        `0x${randomBytes(16).toString('hex')}`,
        '-days',
        String(SERVER_DAYS),
        '-subj',
        '/CN=trove lab broker',
        '-addext',
        'basicConstraints=critical,CA:FALSE',
        '-addext',
        'keyUsage=critical,digitalSignature',
        '-addext',
        'extendedKeyUsage=serverAuth',
        '-addext',
        `subjectAltName=${subjectAltNames(hosts)}`,
      ],
      dir,
    )
    chmodSync(join(dir, 'server.key.tmp'), 0o600)
    renameSync(join(dir, 'server.key.tmp'), key)
    renameSync(join(dir, 'server.crt.tmp'), crt)
  }
  chmodSync(key, 0o600)
  return { ca, caFile: caCrt, key: readFileSync(key, 'utf8'), cert: readFileSync(crt, 'utf8') }
}
