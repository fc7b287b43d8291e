import t from 'tap'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { startServerProcess, tempDir, TROVE } from '../helpers/lab.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const tmux = (...args: string[]) => execFileSync('tmux', args).toString()

t.test('--wait draws its progress view on a terminal (tmux) and prints the result', async (t) => {
  const dir = tempDir(t, 'tt')
  const server = await startServerProcess(t, join(dir, 'lab'))
  const session = `trove-tty-${process.pid}`
  tmux('new-session', '-d', '-s', session, '-x', '140', '-y', '30', 'bash --norc --noprofile')
  t.teardown(() => {
    try {
      tmux('kill-session', '-t', session)
    } catch {
      /* gone */
    }
  })
  const env = `env -u NODE_OPTIONS OS_CLIENT_CONFIG_FILE=${server.cloudsFile} OS_CLOUD=trove-lab`
  tmux('send-keys', '-t', session, `${env} ${process.execPath} ${TROVE} instance create tty-db --flavor 1 --size 1 --datastore redis --wait -c name -c status; echo "EXIT=$?"`, 'Enter')
  let screen = ''
  // Until the command ended; the deadline only ends a hang (a create on a busy machine takes long).
  for (const end = Date.now() + 300_000; Date.now() < end && !/EXIT=\d+/.test(screen); ) {
    await sleep(100)
    screen = tmux('capture-pane', '-t', session, '-p')
  }
  t.match(screen, /EXIT=0/)
  t.match(screen, /✔ instance tty-db \([0-9a-f-]{36}\) ACTIVE \d+\.\ds/, 'the ink view, finished')
  t.notMatch(screen, /: ACTIVE \(/, 'not the plain lines of a pipe')
  t.match(screen, /\| status \| ACTIVE \|/)

  tmux('send-keys', '-t', session, `clear; ${env} ${process.execPath} ${TROVE} instance delete tty-db --yes --wait; echo "EXIT=$?"`, 'Enter')
  screen = ''
  // Until the command ended; the deadline only ends a hang (a create on a busy machine takes long).
  for (const end = Date.now() + 300_000; Date.now() < end && !/EXIT=\d+/.test(screen); ) {
    await sleep(100)
    screen = tmux('capture-pane', '-t', session, '-p')
  }
  t.match(screen, /EXIT=0/)
  t.match(screen, /DELETED/)
  await server.stop()
})
