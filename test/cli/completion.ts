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
