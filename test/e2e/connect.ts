import t from 'tap'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { runCli, startServerProcess, tempDir, TROVE } from '../helpers/lab.js'

const tmux = (...args: string[]) => execFileSync('tmux', args).toString()
const tick = () => new Promise((r) => setImmediate(r))

/** Waits (on the condition, up to a generous deadline) until the pane shows `re`; returns the screen. */
async function screenMatching(session: string, re: RegExp, ms = 120_000): Promise<string> {
  const deadline = Date.now() + ms
  let screen = ''
  while (Date.now() < deadline) {
    screen = tmux('capture-pane', '-t', session, '-p', '-S', '-200')
    if (re.test(screen)) return screen
    await new Promise((r) => setTimeout(r, 50))
    await tick()
  }
  throw new Error(`the terminal never showed ${re}; it shows:\n${screen}`)
}

// `trove instance connect` opens each engine's own client on a real terminal (tmux): the client
// asks for root's password itself (nothing on the command line), runs a query, and the exit code
// is the client's.
t.test('instance connect reaches mariadb, postgresql and redis on a terminal', async (t) => {
  const dir = tempDir(t, 'tc')
  const server = await startServerProcess(t, join(dir, 'lab'))
  const env = server.env
  const engines = [
    { ds: 'mariadb', prompt: /Enter password:/, ready: /MariaDB \[\(none\)\]>/, query: 'SELECT 40+2 AS answer\\g', answer: /\|\s+42 \|/, quit: 'exit' },
    { ds: 'postgresql', prompt: /Password for user root:/, ready: /postgres=#/, query: 'SELECT 40+2 AS answer\\g', answer: /^\s+42$/m, quit: '\\q' },
    { ds: 'redis', prompt: /Please input password:/, ready: /\d+\.\d+\.\d+\.\d+:6379>/, query: 'ACL WHOAMI', answer: /"root"/, quit: 'quit' },
  ]
  const created = await Promise.all(engines.map((e) => runCli(['instance', 'create', `c-${e.ds}`, '--flavor', '1', '--size', '1', '--datastore', e.ds, '--wait', '-f', 'json'], env, 600_000)))
  for (const c of created) t.equal(c.code, 0, c.stderr)

  const session = `trove-connect-${process.pid}`
  tmux('new-session', '-d', '-s', session, '-x', '120', '-y', '40', 'bash --norc --noprofile')
  t.teardown(() => {
    try {
      tmux('kill-session', '-t', session)
    } catch {
      /* gone */
    }
  })
  const shellEnv = `env -u NODE_OPTIONS -u MYSQL_PWD -u PGPASSWORD -u REDISCLI_AUTH OS_CLIENT_CONFIG_FILE=${server.cloudsFile} OS_CLOUD=trove-lab`

  for (const e of engines) {
    const name = `c-${e.ds}`
    const root = await runCli(['root', 'enable', name, '-f', 'json'], env)
    t.equal(root.code, 0, root.stderr)
    const password = (JSON.parse(root.stdout) as { password: string }).password

    const conn = await runCli(['instance', 'connection', name, '-f', 'json'], env)
    t.equal(conn.code, 0, conn.stderr)
    const info = JSON.parse(conn.stdout) as Record<string, unknown>
    // The instance's own address (on loopback, or on the lab's bridge under TROVE_ISOLATION=sandbox).
    const ip = (JSON.parse((await runCli(['instance', 'show', name, '-f', 'json'], env)).stdout) as { ip: string }).ip
    t.match(ip, /^\d+\.\d+\.\d+\.\d+$/)
    const prefix = `${e.ds === 'mariadb' ? 'mysql' : e.ds}://root@${ip}:${{ mariadb: 3306, postgresql: 5432, redis: 6379 }[e.ds]}/`
    t.ok(String(info.url).startsWith(prefix), `${e.ds}: a connection URL (${info.url} starts with ${prefix})`)
    t.notMatch(conn.stdout, password, 'no password in the connection details')

    tmux('send-keys', '-t', session, `clear; ${shellEnv} ${process.execPath} ${TROVE} instance connect ${name}; echo "EXIT=$?"`, 'Enter')
    await screenMatching(session, e.prompt)
    t.notMatch(execFileSync('ps', ['-eo', 'args']).toString(), password, `${e.ds}: the password is in no process's arguments`)
    tmux('send-keys', '-t', session, '-l', password)
    tmux('send-keys', '-t', session, 'Enter')
    await screenMatching(session, e.ready)
    tmux('send-keys', '-t', session, '-l', e.query)
    tmux('send-keys', '-t', session, 'Enter')
    const answered = await screenMatching(session, e.answer)
    t.match(answered, e.answer, `${e.ds}: the query ran as root`)
    // Ctrl-C belongs to the client while it runs: trove stays, the client's exit code comes back.
    if (e.ds === 'postgresql') tmux('send-keys', '-t', session, 'C-c')
    tmux('send-keys', '-t', session, '-l', e.quit)
    tmux('send-keys', '-t', session, 'Enter')
    const end = await screenMatching(session, /EXIT=\d+/)
    t.match(end, /EXIT=0/, `${e.ds}: the client's exit code`)
    t.notMatch(end, /cancelled|ERROR|Error:/, `${e.ds}: no error line`)
  }

  // A password through the client's own variable, and a wrong one: the engine's own error and exit code.
  tmux('send-keys', '-t', session, `clear; ${shellEnv} REDISCLI_AUTH=wrong-password ${process.execPath} ${TROVE} instance connect c-redis; echo "EXIT=$?"`, 'Enter')
  await screenMatching(session, /:6379>/)
  tmux('send-keys', '-t', session, '-l', 'PING')
  tmux('send-keys', '-t', session, 'Enter')
  await screenMatching(session, /WRONGPASS|NOAUTH|AUTH failed/)
  tmux('send-keys', '-t', session, '-l', 'quit')
  tmux('send-keys', '-t', session, 'Enter')
  await screenMatching(session, /EXIT=\d+/)
  await server.stop()
})
