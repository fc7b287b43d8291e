import t from 'tap'
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { apiLab } from '../helpers/api.js'
import { runCli, runMain, tempDir } from '../helpers/lab.js'

const noStack = (s: string) => !/^\s+at /m.test(s)

t.test('bad input: one clear line, the right exit code, no stack trace', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const env = lab.env

  const flag = await runMain(['instance', 'list', '--bogus'], env)
  t.same([flag.code, flag.stderr], [2, "error: unknown option '--bogus'\nTry: trove instance list --help\n"], 'unknown flag: usage, exit 2')
  const missing = await runMain(['instance', 'show'], env)
  t.same([missing.code, missing.stderr], [2, "error: missing required argument 'instance'\nTry: trove instance show --help\n"], 'missing argument: exit 2')
  const badValue = await runMain(['instance', 'list', '-f', 'xml'], env)
  t.equal(badValue.code, 2)
  t.match(
    badValue.stderr,
    /^error: option '-f, --format <format>' argument 'xml' is invalid\. Allowed choices are csv, json, table, value, yaml\.\nTry: trove instance list --help\n$/,
    'bad choice names the option and the value',
  )
  const unknownCmd = await runMain(['instance', 'lst'], env)
  t.equal(unknownCmd.code, 2)
  t.match(unknownCmd.stderr, /unknown command 'lst'[\s\S]*Try: trove instance --help\n$/)

  // Two instances with one name (cli.md section 4: osc-lib's message).
  for (let i = 0; i < 2; i++) {
    const r = await lab.req('POST', `/v1.0/${lab.demo.project}/instances`, { body: { instance: { name: 'dup', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'postgresql' } } } })
    t.equal(r.status, 200, JSON.stringify(r.body))
  }
  const dup = await runMain(['instance', 'show', 'dup'], env)
  t.same([dup.code, dup.stderr], [1, "More than one instance exists with the name 'dup'.\n"], 'a name matching two instances')
  const dupDel = await runMain(['instance', 'delete', 'dup'], env)
  t.same([dupDel.code, dupDel.stderr], [1, 'Failed to get database instance dup, error: \n'], 'delete: algorithm C wording')

  const dir = tempDir(t)
  const badYaml = join(dir, 'clouds.yaml')
  writeFileSync(badYaml, 'clouds:\n  lab:\n    auth: {auth_url: [\n')
  const yaml = await runMain(['instance', 'list'], { ...env, OS_CLIENT_CONFIG_FILE: badYaml, OS_CLOUD: 'lab' })
  t.equal(yaml.code, 4, 'a bad clouds.yaml is a settings error')
  t.match(yaml.stderr, new RegExp(`^invalid yaml in ${badYaml} at line \\d+, column \\d+: [^\\n]+\\n$`))
  const noCloud = await runMain(['instance', 'list'], { ...env, OS_CLOUD: 'nope' })
  t.equal(noCloud.code, 4)
  t.match(noCloud.stderr, /^cloud 'nope' not found/)

  const refused = await runMain(['instance', 'list'], { PATH: env.PATH, HOME: '/nonexistent', OS_AUTH_URL: 'http://127.0.0.1:1/v3', OS_USERNAME: 'u', OS_PASSWORD: 'p', OS_PROJECT_NAME: 'p' })
  t.equal(refused.code, 1)
  t.match(
    refused.stderr,
    /^Unable to establish connection to http:\/\/127\.0\.0\.1:1\/v3\/auth\/tokens: connect ECONNREFUSED 127\.0\.0\.1:1\nTry: is the server running\? Start a lab with 'trove server start' \(or see 'trove server status'\), or check OS_AUTH_URL \/ --os-auth-url\n$/,
  )

  const wrongPw = await runMain(['instance', 'list'], { ...env, OS_PASSWORD: 'wrong' })
  t.equal(wrongPw.code, 4, '401 from Keystone: exit 4')
  t.match(wrongPw.stderr, /^The request you have made requires authentication\. \(HTTP 401\)\nTry: check OS_CLOUD/)

  // An expired lab token (token auth): Keystone refuses it.
  const auth = { PATH: env.PATH, HOME: '/nonexistent', OS_AUTH_TYPE: 'token', OS_AUTH_URL: `${lab.url}/identity/v3`, OS_PROJECT_ID: lab.demo.project, OS_TOKEN: lab.demo.token }
  t.equal((await runMain(['flavor', 'list', '-f', 'value', '-c', 'ID'], auth)).code, 0, 'the token works')
  lab.server.lab.db.prepare('UPDATE tokens SET expires_at = ? WHERE digest = ?').run('2000-01-01T00:00:00.000000Z', createHash('sha256').update(lab.demo.token).digest('hex'))
  // The identity store caches validations for a minute; forget them as a restart would.
  ;(lab.server.lab.identity as unknown as { cache: Map<string, unknown> }).cache.clear()
  const expired = await runCli(['flavor', 'list'], auth)
  t.equal(expired.code, 4, 'expired token: exit 4')
  t.match(expired.stderr, /^The request you have made requires authentication\. \(HTTP 401\)\nTry: check OS_CLOUD/)
  t.ok(noStack(expired.stderr), 'no stack trace')

  const debug = await runCli(['--debug', 'flavor', 'list'], auth)
  t.equal(debug.code, 4)
  t.match(debug.stderr, /^\s+at /m, '--debug shows the stack')
  t.notOk(debug.stderr.includes(lab.demo.token), 'the token is redacted in --debug output')
  t.match(debug.stderr, /"token": ?\{"id": ?"\*\*\*"\}|"id":"\*\*\*"/)
  const pwDebug = await runCli(['--debug', 'flavor', 'list'], env)
  const pw = /password: (\S+)/.exec(readFileSync(lab.cloudsFile, 'utf8'))![1]
  t.notOk(pwDebug.stderr.includes(pw), 'the password is redacted in --debug output')
  for (const r of [flag, missing, dup, yaml, refused, wrongPw]) t.ok(noStack(r.stderr), 'no stack trace')
})

t.test('the token cache: 0600 file, reused, dropped on a 401', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const home = tempDir(t)
  const env = { ...lab.env, HOME: home }
  t.equal((await runCli(['instance', 'list'], env)).code, 0)
  const dir = join(home, '.cache/trove/tokens')
  const files = readdirSync(dir)
  t.equal(files.length, 1)
  t.equal(statSync(dir).mode & 0o777, 0o700)
  t.equal(statSync(join(dir, files[0])).mode & 0o777, 0o600)
  const cached = JSON.parse(readFileSync(join(dir, files[0]), 'utf8'))
  t.match(cached.token, /^tlab/)
  t.equal((await runCli(['instance', 'list'], env)).code, 0)
  t.equal(JSON.parse(readFileSync(join(dir, files[0]), 'utf8')).token, cached.token, 'reused by the next run')
  // A token the server no longer accepts: the CLI logs in again and replaces it.
  writeFileSync(join(dir, files[0]), JSON.stringify({ ...cached, token: 'tlabrevoked' }))
  const again = await runCli(['flavor', 'list', '-f', 'value', '-c', 'ID'], env)
  t.same([again.code, again.stderr], [0, ''])
  const fresh = JSON.parse(readFileSync(join(dir, files[0]), 'utf8')).token
  t.not(fresh, 'tlabrevoked', 'replaced after the 401')
  // A different password never reuses the cached token.
  const wrong = await runCli(['instance', 'list'], { ...env, OS_PASSWORD: 'wrong' })
  t.equal(wrong.code, 4)
  const xdg = tempDir(t)
  mkdirSync(join(xdg, 'c'))
  t.equal((await runCli(['instance', 'list'], { ...env, XDG_CACHE_HOME: join(xdg, 'c') })).code, 0)
  t.equal(readdirSync(join(xdg, 'c/trove/tokens')).length, 1, 'XDG_CACHE_HOME is honoured')
})

t.test('Ctrl-C while a request hangs: cancelled, exit 3, at once', async (t) => {
  const { createServer } = await import('node:http')
  const { spawn } = await import('node:child_process')
  const { troveCommand } = await import('../helpers/lab.js')
  const server = createServer(() => {
    /* never answers */
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/v1.0/p1`
  for (const args of [['instance', 'list'], ['flavor-list']]) {
    const [cmd, argv] = troveCommand(args)
    const child = spawn(cmd, argv, { env: { PATH: process.env.PATH, HOME: '/nonexistent', OS_AUTH_TYPE: 'none', OS_ENDPOINT: url }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (b) => {
      stderr += b
    })
    let seen = false
    server.once('request', () => {
      seen = true
      setTimeout(() => child.kill('SIGINT'), 100)
    })
    const t0 = Date.now()
    const code = await new Promise<number | null>((r) => child.on('close', r))
    t.ok(seen, 'the request was pending')
    t.same([code, stderr], [3, 'cancelled\n'], `${args.join(' ')}: exit 3`)
    t.ok(Date.now() - t0 < 10_000, 'without waiting for the request timeout')
  }
})

t.test('every command with empty or garbage positional arguments: one clear line, never a JavaScript error', async (t) => {
  const { COMMANDS } = await import('../../src/cli/commands/index.js')
  const { legacySpecs } = await import('../../src/cli/legacy.js')
  const lab = await apiLab(t, { spawnAgents: false })
  const specs = [...COMMANDS, ...legacySpecs(COMMANDS).specs].filter((s) => (s.args ?? []).some((a) => !a.optional))
  t.ok(specs.length > 60, `${specs.length} commands take positional arguments`)
  const jsError = /TypeError|ReferenceError|Cannot read|Cannot convert|is not a function|is not iterable|undefined|\bnull\b|\[object |NaN/
  // A token cache (as a user has): one login for the whole sweep instead of one per command.
  const home = tempDir(t)
  const envs = { admin: { ...lab.env, HOME: home, OS_CLOUD: 'trove-lab-admin' }, demo: { ...lab.env, HOME: home } }
  for (const spec of specs) {
    const name = spec.path.join(' ')
    const argsWith = (v: string) => (spec.args ?? []).filter((a) => !a.optional).map(() => v)
    const first = (spec.args ?? []).find((a) => !a.optional)!.name
    // ' ' goes the same way as '' (trimmed); a few commands check it.
    for (const blank of specs.indexOf(spec) % 10 === 0 ? ['', ' '] : ['']) {
      const empty = await runMain([...spec.path, ...argsWith(blank)], envs.admin)
      t.same([empty.code, empty.stderr], [2, `error: argument '${first}' must not be empty\nTry: trove ${name} --help\n`], `${name} ${JSON.stringify(blank)}: a usage error`)
    }
    // Not found, with characters that need encoding in a path.
    for (const garbage of ['%zz/../?#']) {
      for (const [who, env] of Object.entries(envs).slice(0, 1)) {
        const r = await runMain(
          [...spec.path, ...argsWith(garbage), '--yes'].filter((a) => a !== '--yes' || spec.options?.some((o) => o.flags.includes('--yes'))),
          env,
        )
        const lines = r.stderr.split('\n').filter(Boolean)
        const ok =
          r.code === 0 || ([1, 2].includes(r.code) && lines.length >= 1 && lines.length <= 2 && (lines.length === 1 || lines[1]!.startsWith('Try: ')) && !jsError.test(r.stderr) && noStack(r.stderr))
        if (!ok) t.fail(`${name} ${JSON.stringify(garbage)} (${who}): exit ${r.code}: ${JSON.stringify(r.stderr)}`)
      }
    }
  }
})

t.test('trove server: an unknown isolation, from --isolation or TROVE_ISOLATION, is one usage line and nothing starts', async (t) => {
  const dir = tempDir(t)
  const env = { HOME: dir, TROVE_DATA_DIR: join(dir, 'lab') }
  const flag = await runMain(['server', '--isolation', 'vm', '--port', '0'], env)
  t.same([flag.code, flag.stderr.split('\n')[0]], [2, "error: --isolation must be none or sandbox, not 'vm'"])
  const fromEnv = await runMain(['server', 'start', '--port', '0'], { ...env, TROVE_ISOLATION: 'vm' })
  t.same([fromEnv.code, fromEnv.stderr.split('\n')[0]], [2, "error: TROVE_ISOLATION must be none or sandbox, not 'vm'"])
  t.notOk(readdirSync(dir).includes('lab'), 'no data dir was made')
})
