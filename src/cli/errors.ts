import { APIConnectionError, APIError, APITimeoutError, EndpointNotFoundError, TroveError, UnauthorizedError, WaitFailedError, WaitTimeoutError } from '../sdk/index.js'
import { EXIT } from './spec.js'

/** A failure with a ready one-line message and an exit code (CONVENTIONS 7). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failure,
    readonly hint?: string,
  ) {
    super(message)
  }
}

/** A usage error (exit 2). */
export const usageError = (m: string, hint?: string) => new CliError(m, EXIT.usage, hint)

/**
 * The one place that turns any failure into a message, a hint and an exit code.
 * API errors read like the openstack client's: `<message> (HTTP <status>) (Request-ID: <id>)`.
 */
export function describeError(e: unknown): { message: string; hint?: string; exitCode: number } {
  if (e instanceof CliError) return { message: e.message, hint: e.hint, exitCode: e.exitCode }
  if (e instanceof WaitTimeoutError) return { message: e.message, exitCode: EXIT.waitTimeout, hint: 'wait longer with --timeout SECONDS, or check the server log' }
  if (e instanceof WaitFailedError) return { message: e.message, exitCode: EXIT.failure }
  if (e instanceof UnauthorizedError && (e.fault === 'error' || e.fault === undefined)) {
    return {
      message: `${e.message} (HTTP 401)`,
      exitCode: EXIT.auth,
      hint: `check OS_CLOUD / OS_USERNAME / OS_PASSWORD${e.lab ? '; for a lab: export OS_CLIENT_CONFIG_FILE=<data dir>/clouds.yaml OS_CLOUD=trove-lab' : ''}`,
    }
  }
  if (e instanceof APIError && e.status === 413 && /^Quota exceeded for resources: \[(.*)\]/.test(e.message)) {
    const resource = /'(\w+)'/.exec(e.message)?.[1] ?? 'instances'
    return {
      message: `${e.message} (HTTP ${e.status})${e.requestId ? ` (Request-ID: ${e.requestId})` : ''}`,
      exitCode: EXIT.failure,
      hint: `see the project's usage with 'trove quota show PROJECT'; an admin raises the limit: 'trove quota update PROJECT ${resource} N' (a lab: OS_CLOUD=trove-lab-admin), or frees some (delete instances or backups)`,
    }
  }
  if (e instanceof APIError) {
    return { message: `${e.message} (HTTP ${e.status})${e.requestId ? ` (Request-ID: ${e.requestId})` : ''}`, exitCode: EXIT.failure }
  }
  if (e instanceof APIConnectionError) {
    // Nothing answered, so nothing says whether a lab was meant: a lab listens on this host.
    const local = onLoopback(e.url)
    return {
      message: e.message,
      exitCode: EXIT.failure,
      hint: local
        ? "is the server running? Start a lab with 'trove server start' (or see 'trove server status'), or check OS_AUTH_URL / --os-auth-url"
        : 'is the cloud reachable from here? Check OS_AUTH_URL / --os-auth-url and the network',
    }
  }
  if (e instanceof APITimeoutError || e instanceof EndpointNotFoundError || e instanceof TroveError) return { message: e.message, exitCode: EXIT.failure }
  if (e instanceof Error && e.name === 'ConfigError') return { message: e.message, exitCode: EXIT.auth }
  if (e instanceof Error && e.name === 'OutputError') return { message: e.message, exitCode: (e as Error & { exitCode?: number }).exitCode ?? EXIT.failure }
  if (e instanceof Error && e.name === 'AbortError') return { message: 'cancelled', exitCode: EXIT.cancelled }
  return { message: e instanceof Error ? e.message : String(e), exitCode: EXIT.failure }
}

/** Is the URL's host this machine (127.0.0.0/8, ::1, localhost), where `trove server` runs? */
function onLoopback(url: string): boolean {
  try {
    const h = new URL(url).hostname.replace(/^\[|\]$/g, '')
    return h === 'localhost' || h === '::1' || /^127\./.test(h)
  } catch {
    return false
  }
}

/** Secrets out of text shown with --debug (stack traces, messages). */
export function redactSecrets(s: string): string {
  return s.replace(/(password|passwd|secret|token)(["']?\s*[:=]\s*["']?)[^\s"',}]+/gi, '$1$2***').replace(/\btlab[A-Za-z0-9._-]+/g, '***')
}

/**
 * Prints a failure the one way (CONVENTIONS 7): the message line, a `Try:` hint when
 * there is one, and the stack only with --debug (redacted). Returns the exit code.
 */
export function reportError(e: unknown, io: { stderr(s: string): void }, debug: boolean): number {
  const d = describeError(e)
  io.stderr(`${d.message}\n`)
  if (d.hint) io.stderr(`Try: ${d.hint}\n`)
  if (debug && e instanceof Error && e.stack) io.stderr(`${redactSecrets(e.stack)}\n`)
  return d.exitCode
}
