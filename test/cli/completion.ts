import t from 'tap'
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runMain, tempDir } from '../helpers/lab.js'

const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent' }

t.test('trove completion bash: a script bash can source, completing commands and legacy names', async (t) => {
  const r = await runMain(['completion', 'bash'], env)
  t.equal(r.code, 0)
  const file = join(tempDir(t), 'trove.bash')
  writeFileSync(file, r.stdout)
  const complete = (line: string) => {
    const words = line.split(' ')
    const script = `source ${file}; complete -p trove; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _trove; echo "\${COMPREPLY[*]}"`
    return execFileSync('bash', ['-c', script], { encoding: 'utf8' }).split('\n')
  }
  const [spec, inst] = complete('trove inst')
  t.equal(spec, 'complete -F _trove trove', 'complete -p trove')
  t.equal(inst, 'instance', 'trove inst<TAB>')
  const subs = complete('trove instance ')[1].split(' ')
  t.ok(
    ['create', 'delete', 'list', 'show'].every((w) => subs.includes(w)),
    `instance subcommands: ${subs.join(' ')}`,
  )
  t.notOk(subs.includes('flavor'), 'only the subcommands of instance')
  t.same(complete('trove instance list --for')[1], '--format', 'options of the command at the cursor')
  t.same(complete('trove backup-cr')[1], 'backup-create', 'legacy names')
  t.same(complete('trove user grant ')[1], 'access', 'three-word commands')
  t.match(complete('trove --os-cl')[1], /--os-cloud/, 'global options')
})

t.test('trove completion zsh and a bad shell', async (t) => {
  const z = await runMain(['completion', 'zsh'], env)
  t.equal(z.code, 0)
  t.match(z.stdout, /^#compdef trove\nautoload -U \+X bashcompinit && bashcompinit\n/)
  const bad = await runMain(['completion', 'fish'], env)
  t.same([bad.code, bad.stderr], [2, "error: completion: unknown shell 'fish' (bash or zsh)\n"])
})

t.test('completion names: instances, flavors, datastores and backups of the configured lab; silent and quick on errors', async (t) => {
  const { startLab, TROVE } = await import('../helpers/lab.js')
  const { symlinkSync, mkdirSync } = await import('node:fs')
  const lab = await startLab(t, { spawnAgents: false })
  t.equal((await runMain(['instance', 'create', 'app-db', '--flavor', 'm1.small', '--size', '1', '--datastore', 'redis'], lab.env)).code, 0)
  t.equal((await runMain(['instance', 'create', 'cache', '--flavor', 'm1.tiny', '--size', '1', '--datastore', 'redis'], lab.env)).code, 0)
  const names = async (kind: string, env = lab.env) => runMain(['completion', 'names', kind], env)
  t.same((await names('instance')).stdout, 'app-db\ncache\n', 'instance names')
  t.match((await names('flavor')).stdout, /^m1\.large\nm1\.medium\nm1\.small\nm1\.tiny\nm1\.xlarge\n$/, 'flavor names')
  t.match((await names('datastore')).stdout, /(^|\n)redis\n/, 'datastore names')
  t.same(await names('backup'), { code: 0, stdout: '', stderr: '' }, 'no backups yet: nothing')
  t.same(await names('nonsense'), { code: 0, stdout: '', stderr: '' }, 'an unknown kind: nothing')
  const down = { ...lab.env, OS_CLIENT_CONFIG_FILE: '/nonexistent/clouds.yaml' }
  t.same(await names('instance', down), { code: 0, stdout: '', stderr: '' }, 'no cloud configured: nothing, no error')

  // A real bash completion, with this repository's trove on PATH.
  const dir = tempDir(t)
  mkdirSync(join(dir, 'bin'))
  symlinkSync(TROVE, join(dir, 'bin/trove'))
  // The node a user runs (the test runner's PATH may put a wrapper with its loaders first).
  symlinkSync(process.execPath, join(dir, 'bin/node'))
  const script = join(dir, 'trove.bash')
  writeFileSync(script, (await runMain(['completion', 'bash'], env)).stdout)
  // A generous cap (TROVE_COMPLETION_MS): on a busy machine the default 2 s can pass before the names come.
  const bashEnv = { ...lab.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}`, TROVE_COMPLETION_MS: '120000' }
  // Asynchronously: the lab answers from this very process.
  const { promisify } = await import('node:util')
  const { execFile } = await import('node:child_process')
  const complete = async (line: string, e: Record<string, string> = bashEnv) => {
    const words = line.split(' ')
    // tap's processinfo puts its loader into every child's NODE_OPTIONS: a user's shell has none.
    const cmd = `unset NODE_OPTIONS; source ${script}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _trove; echo "\${COMPREPLY[*]}"`
    const start = Date.now()
    const { stdout, stderr } = await promisify(execFile)('bash', ['-c', cmd], { encoding: 'utf8', env: e })
    return { out: stdout.trim() + stderr, ms: Date.now() - start }
  }
  t.equal((await complete('trove instance show ')).out, 'app-db cache', 'instance show <TAB>')
  t.equal((await complete('trove instance show ca')).out, 'cache', 'instance show ca<TAB>')
  t.equal((await complete('trove instance create x --flavor m1.s')).out, 'm1.small', '--flavor <TAB>')
  t.equal((await complete('trove instance create x --size 1 --datastore re')).out, 'redis', '--datastore <TAB> after a valued option')
  t.equal((await complete('trove backup create b --instance app')).out, 'app-db', '--instance <TAB>')
  t.equal((await complete('trove instance show cache ')).out, '', 'no second instance argument')
  t.equal((await complete('trove instance ')).out.split(' ').includes('show'), true, 'subcommands as before')
  const failing = await complete('trove instance show ', { ...bashEnv, OS_CLIENT_CONFIG_FILE: '/nonexistent/clouds.yaml' })
  t.equal(failing.out, '', 'a broken configuration: no names and no error on the line')
  // An auth URL that accepts connections and never answers: the completion gives up by itself.
  const { createServer } = await import('node:net')
  const silent = createServer(() => undefined)
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r))
  t.teardown(() => silent.close())
  const hung = await complete('trove instance show ', {
    PATH: bashEnv.PATH,
    HOME: '/nonexistent',
    OS_AUTH_URL: `http://127.0.0.1:${(silent.address() as { port: number }).port}/v3`,
    OS_USERNAME: 'u',
    OS_PASSWORD: 'p',
    OS_PROJECT_NAME: 'p',
  })
  // Without TROVE_COMPLETION_MS, the default cap: the completion ends by itself (else this test would hang).
  t.equal(hung.out, '', `a cloud that never answers: nothing, given up after ${hung.ms} ms`)
})
