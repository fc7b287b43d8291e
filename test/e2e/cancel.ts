// Ctrl-C during `--wait` on a real terminal (tmux): exit 3, "cancelled", the progress line ends
// on a clean "✖ ... cancelled" (no stale spinner, no ERROR), the process ends at once (the long
// poll in flight is dropped), and the instance goes on to ACTIVE without us. MariaDB: its first
// instance with an empty template dir makes the data-dir template, which leaves time to see BUILD
// (so this lab has a template dir of its own, not the suite's shared one); the server is then
// paused (SIGSTOP), so the build cannot finish first and the long poll hangs in flight.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { pollInstance, runCli, startServerProcess, tempDir, TROVE } from '../helpers/lab.js'

const tmux = (...args: string[]) => execFileSync('tmux', args).toString()

async function screenMatching(session: string, re: RegExp, ms = 120_000): Promise<string> {
  const deadline = Date.now() + ms
  let screen = ''
  while (Date.now() < deadline) {
    screen = tmux('capture-pane', '-t', session, '-p')
    if (re.test(screen)) return screen
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error(`the terminal never showed ${re}; it shows:\n${screen}`)
}

t.test('Ctrl-C during instance create --wait', async (t) => {
  const dir = tempDir(t, 'tx')
  const server = await startServerProcess(t, join(dir, 'lab'), [], { TROVE_TEMPLATES_DIR: join(dir, 'templates') })
  const session = `trove-cancel-${process.pid}`
  tmux('new-session', '-d', '-s', session, '-x', '140', '-y', '30', 'bash --norc --noprofile')
  t.teardown(() => {
    try {
      tmux('kill-session', '-t', session)
    } catch {
      /* gone */
    }
  })
  // CI=true (as CI runs) makes ink print only the last frame: this is a person's terminal.
  const env = `env -u NODE_OPTIONS -u CI OS_CLIENT_CONFIG_FILE=${server.cloudsFile} OS_CLOUD=trove-lab`
  tmux('send-keys', '-t', session, `${env} ${process.execPath} ${TROVE} instance create cx-db --flavor 1 --size 1 --datastore mariadb --wait; echo "EXIT=$?"`, 'Enter')
  await screenMatching(session, /instance cx-db \([0-9a-f-]{36}\) BUILD/)
  // The server paused: the build cannot finish first, and the CLI's long poll hangs in flight.
  process.kill(server.child.pid!, 'SIGSTOP')
  t.teardown(() => {
    try {
      process.kill(server.child.pid!, 'SIGCONT')
    } catch {
      /* gone */
    }
  })
  tmux('send-keys', '-t', session, 'C-c')
  // Well under the long poll's length: the request in flight does not hold the process.
  const screen = await screenMatching(session, /EXIT=\d+/, 10_000)
  t.match(screen, /EXIT=3/, 'exit code 3')
  t.match(screen, /✖ instance cx-db \([0-9a-f-]{36}\) cancelled/, 'the progress line ends on cancelled')
  t.match(screen, /^cancelled$/m, 'the one-line message')
  t.notMatch(screen, /ERROR|BUILD \d/, 'no ERROR, no stale BUILD spinner')

  process.kill(server.child.pid!, 'SIGCONT')
  // The create goes on without us.
  await pollInstance(server.cloudsFile, 'cx-db', (i) => i?.status === 'ACTIVE' || i?.status === 'ERROR')
  t.equal((await runCli(['instance', 'show', 'cx-db', '-f', 'value', '-c', 'status'], server.env)).stdout.trim(), 'ACTIVE')
  await server.stop()
})
