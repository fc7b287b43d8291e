// instance connect / instance connection against a fake Trove endpoint: the client and its
// arguments per engine, where the password comes from (never argv), exit codes, errors.
// test/e2e/connect.ts drives the real clients against real engines under tmux.
import t, { type Test } from 'tap'
import { main } from '../../src/cli/main.js'
import type { IO } from '../../src/cli/spec.js'
import { fakeTrove } from '../helpers/fake-trove.js'

const instance = (type: string, ip = '127.0.0.9') => ({
  instance: { id: '7a1a2f4e-1111-4222-8333-944445555666', name: 'db1', status: 'ACTIVE', links: [], flavor: { id: '1' }, datastore: { type, version: 'x' }, ip: [ip] },
})

async function run(t: Test, type: string, args: string[], o: { tty?: boolean; env?: Record<string, string>; installed?: string[]; code?: number } = {}) {
  const srv = await fakeTrove(t, (s) =>
    s.url.startsWith('/instances/db1')
      ? { body: instance(type) }
      : /^\/instances(\/detail)?(\?|$)/.test(s.url)
        ? { body: { instances: [instance(type).instance] } }
        : { status: 404, body: { itemNotFound: { code: 404, message: 'no' } } },
  )
  const execs: Array<{ program: string; args: string[] }> = []
  let stdout = ''
  let stderr = ''
  const io: IO = {
    stdout: (s) => {
      stdout += s
    },
    stderr: (s) => {
      stderr += s
    },
    stdinIsTTY: o.tty ?? true,
    stdoutIsTTY: o.tty ?? true,
    stderrIsTTY: false,
    columns: 200,
    env: { ...srv.env, TROVE_NO_FAST_PATH: '1', ...o.env },
    exec: async (program, a) => {
      execs.push({ program, args: a })
      return (o.installed ?? [program]).includes(program) ? (o.code ?? 0) : undefined
    },
  }
  const code = await main(args, io)
  return { code, stdout, stderr, execs }
}

t.test("instance connect runs each engine's client; the password is asked for or read from its variable", async (t) => {
  let r = await run(t, 'mariadb', ['instance', 'connect', 'db1'])
  t.same(r.execs, [{ program: 'mariadb', args: ['-h', '127.0.0.9', '-P', '3306', '-u', 'root', '-p'] }], 'mariadb asks on the terminal (-p without a value)')
  t.equal(r.code, 0)
  r = await run(t, 'mariadb', ['instance', 'connect', 'db1', '--user', 'app', '--database', 'app'], { env: { MYSQL_PWD: 'Secret-1' }, installed: ['mysql'], code: 1 })
  t.same(
    r.execs.map((e) => e.program),
    ['mariadb', 'mysql'],
    'mysql when there is no mariadb client',
  )
  t.same(r.execs[1]!.args, ['-h', '127.0.0.9', '-P', '3306', '-u', 'app', 'app'], 'MYSQL_PWD set: no prompt')
  t.equal(r.code, 1, "the client's exit code")
  t.notMatch(JSON.stringify(r.execs), 'Secret-1')

  r = await run(t, 'postgresql', ['instance', 'connect', 'db1'])
  t.same(r.execs, [{ program: 'psql', args: ['-h', '127.0.0.9', '-p', '5432', '-U', 'root', '-d', 'postgres'] }])
  r = await run(t, 'redis', ['instance', 'connect', 'db1', '--database', '2'])
  t.same(r.execs, [{ program: 'redis-cli', args: ['-h', '127.0.0.9', '-p', '6379', '--user', 'root', '--askpass', '-n', '2'] }], 'redis root is an ACL user: --user root')
  r = await run(t, 'redis', ['instance', 'connect', 'db1'], { env: { REDISCLI_AUTH: 'pw' } })
  t.same(r.execs[0]!.args, ['-h', '127.0.0.9', '-p', '6379', '--user', 'root'], 'REDISCLI_AUTH set: no prompt')
  r = await run(t, 'redis', ['instance', 'connect', 'db1'], { tty: false })
  t.notOk(r.execs[0]!.args.includes('--askpass'), 'no terminal: no prompt')

  r = await run(t, 'redis', ['instance', 'connect', 'db1', '--database', 'app'])
  t.same([r.code, r.stderr, r.execs], [2, "--database: a redis database is a number (0-15), not 'app'\n", []])
  r = await run(t, 'cassandra', ['instance', 'connect', 'db1'])
  t.same([r.code, r.stderr], [1, "no client known for datastore 'cassandra' of instance db1 (known: mariadb, mysql, postgresql, redis)\n"])
  r = await run(t, 'postgresql', ['instance', 'connect', 'db1'], { installed: [] })
  t.same([r.code, r.stderr], [1, 'psql not found on PATH\nTry: install the postgresql client, or connect with: trove instance connection db1\n'])
  r = await run(t, 'postgresql', ['instance', 'connect', 'ghost'])
  t.same([r.code, r.stderr, r.execs], [1, "No instance with a name or ID of 'ghost' exists.\n", []])
})

t.test('instance connection gives a URL per engine and never a password', async (t) => {
  const urls: Record<string, string> = {}
  for (const ds of ['mariadb', 'postgresql', 'redis']) {
    const r = await run(t, ds, ['instance', 'connection', 'db1', '-f', 'json'])
    t.equal(r.code, 0, r.stderr)
    urls[ds] = (JSON.parse(r.stdout) as { url: string }).url
  }
  t.same(urls, { mariadb: 'mysql://root@127.0.0.9:3306/', postgresql: 'postgresql://root@127.0.0.9:5432/postgres', redis: 'redis://root@127.0.0.9:6379/0' })
  const r = await run(t, 'postgresql', ['instance', 'connection', 'db1', '--user', 'app', '--database', 'app', '-f', 'json'])
  t.same(JSON.parse(r.stdout), {
    datastore: 'postgresql',
    host: '127.0.0.9',
    port: 5432,
    user: 'app',
    database: 'app',
    url: 'postgresql://app@127.0.0.9:5432/app',
    password_env: 'PGPASSWORD',
    command: 'psql -h 127.0.0.9 -p 5432 -U app -d app',
  })
})
