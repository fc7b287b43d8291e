// `trove server` and SIGTERM at the two moments a supervisor sends it early: while the server starts (its data dir
// locked, nothing listening yet), and as soon as the banner's first line is out. Both end in a clean stop, exit 0,
// lock released; before, the handler was installed only after the whole banner was written, so a SIGTERM sent on its
// first line killed the server outright (seen under coverage, where the process is slower: test/e2e/isolation-default.ts).
import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { cleanEnv, tempDir, troveCommand } from '../helpers/lab.js'

/** `trove server` on `dataDir`, SIGTERMed once `ready` holds (polled every 5 ms); how it ended, and what it printed. */
async function signalled(dataDir: string, ready: (out: string) => boolean): Promise<{ code: number | null; signal: string | null; out: string }> {
  const [cmd, argv] = troveCommand(['server', '--data-dir', dataDir, '--port', '0', '--isolation', 'none'])
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() })
  let out = ''
  child.stdout.on('data', (b) => (out += b))
  child.stderr.on('data', (b) => (out += b))
  const exited = new Promise<{ code: number | null; signal: string | null }>((done) => child.once('exit', (code, signal) => done({ code, signal })))
  let ended = false
  void exited.then(() => (ended = true))
  while (!ended && !ready(out)) await sleep(5)
  if (!ended) child.kill('SIGTERM')
  return { ...(await exited), out }
}

t.test('SIGTERM during the start: the server finishes starting, then stops cleanly', async (t) => {
  const dataDir = join(tempDir(t), 'lab')
  const r = await signalled(dataDir, () => existsSync(join(dataDir, 'server.pid')))
  t.same([r.code, r.signal], [0, null], `exit 0, not killed (${r.out.trim().split('\n').at(-1)})`)
  t.match(r.out, /shutting down/, 'it shut down')
  t.notOk(existsSync(join(dataDir, 'server.pid')), 'the lock released')
})

t.test("SIGTERM on the banner's first line: a clean stop", async (t) => {
  const dataDir = join(tempDir(t), 'lab')
  const r = await signalled(dataDir, (out) => out.includes('listening on'))
  t.same([r.code, r.signal], [0, null], 'exit 0, not killed')
  t.match(r.out, /shutting down/, 'it shut down')
  t.notOk(existsSync(join(dataDir, 'server.pid')), 'the lock released')
})
