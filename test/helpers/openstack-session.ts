import { execFile, spawn } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'
import type { Test } from 'tap'

const MARK = '@@openstack-session-mark@@'

export interface OpenstackSession {
  /** Runs one command (words, without `openstack`); its stdout, or a rejection with its stderr. */
  run(args: string[]): Promise<string>
  /**
   * Runs one command; what it wrote on each stream and its exit code (in the interactive
   * process, which has none: 1 when it wrote on stderr, as a failed command writes its error there).
   */
  output(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>
}

/**
 * Words cliff's interactive mode passes unchanged: it splits a line with shlex, joins the words
 * of a multi-word command with spaces and splits them again, so no quoting survives. A command
 * with any other word (spaces, quotes, an empty word) runs as a process of its own.
 */
const PLAIN = /^[\w.=,:/@-]+$/

/**
 * One python `openstack` process in cliff's interactive mode, fed one command at a time and
 * closed at the test's teardown. Every start of the python client costs about 1 s of CPU (its
 * imports), so a test that runs many commands as one user runs them in one process.
 * After each command the session has the shell print a marker on stdout and on stderr, so a
 * reply is matched to its command by content, never by a timer. cliff's interactive mode drops
 * exit codes: a command that wrote anything to stderr counts as failed (the rejection carries
 * what it wrote); a test that asserts a failure's exit code runs that command as a process.
 * The process keeps its token between commands, so use one session per set of credentials that
 * does not change. Hand-written: no library drives cliff's interactive mode.
 */
export function openstackSession(t: Test, env: Record<string, string>): OpenstackSession {
  const child = spawn('openstack', [], { env, stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  let exited = false
  let waiting: (() => void) | undefined
  const poke = () => waiting?.()
  child.stdout.on('data', (b) => {
    out += b
    poke()
  })
  child.stderr.on('data', (b) => {
    err += b
    poke()
  })
  const closed = new Promise<void>((r) =>
    child.once('close', () => {
      exited = true
      poke()
      r()
    }),
  )
  t.teardown(async () => {
    child.stdin.end()
    await closed
  })
  /** Resolves with both streams up to their markers (and drops them from the buffers). */
  const reply = () =>
    new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      const check = () => {
        const o = out.indexOf(`${MARK}\n`)
        const e = err.indexOf(`${MARK}\n`)
        if (o >= 0 && e >= 0) {
          waiting = undefined
          const got = { stdout: out.slice(0, o), stderr: err.slice(0, e) }
          out = out.slice(o + MARK.length + 1)
          err = err.slice(e + MARK.length + 1)
          resolve(got)
        } else if (exited) {
          waiting = undefined
          reject(new Error(`openstack session ended: ${err.trim() || out.trim()}`))
        }
      }
      waiting = check
      check()
    })
  let queue: Promise<unknown> = Promise.resolve()
  const output = (args: string[]) => {
    const done = queue.then(async () => {
      if (!args.every((w) => PLAIN.test(w))) return alone(args, env)
      // Quoted for the shell: cmd2 would read `;` and `>` itself.
      child.stdin.write(`${args.join(' ')}\n!sh -c 'echo ${MARK}; echo ${MARK} >&2'\n`)
      const r = await reply()
      return { code: r.stderr.trim() ? 1 : 0, ...r }
    })
    queue = done.catch(() => undefined)
    return done
  }
  return {
    output,
    async run(args) {
      const { code, stdout, stderr } = await output(args)
      if (code !== 0) throw new Error(`openstack ${args.join(' ')} failed: ${stderr.trim()}`)
      return stdout
    },
  }
}

/** One command as a process of its own: its streams and exit code. */
function alone(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('openstack', args, { env, timeout: 120_000 }, (e, stdout, stderr) => {
      const code = e ? (typeof e.code === 'number' ? e.code : -1) : 0
      resolve({ code, stdout, stderr })
    })
  })
}

/**
 * Whether the python `openstack` client is installed: an executable `openstack` on PATH. Found without
 * running it: `openstack --version` is a python start, ~1.3 s of CPU for a yes.
 */
export function hasOpenstackClient(): boolean {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .filter(Boolean)
    .some((dir) => {
      try {
        accessSync(join(dir, 'openstack'), constants.X_OK)
        return true
      } catch {
        return false
      }
    })
}
