// What the real bin/trove loads, seen by a module loader hook: `instance create --wait` off a
// terminal (what a script or the wait benchmark runs) goes without commander, the command index,
// yaml, ink and React; an agent starts from its one-file build (scripts/build.mjs), not from its
// ~130 modules. Both are start-up time a user waits for (issue 11).
import t from 'tap'
import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { apiLab } from '../helpers/api.js'
import { ROOT, TROVE, tempDir } from '../helpers/lab.js'

/** Runs bin/trove with a loader hook; resolves with the exit code, stdout and the URLs loaded. */
function traced(dir: string, args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string; loaded: string[] }> {
  const loader = join(dir, 'loader.mjs')
  writeFileSync(loader, 'export async function load(url, context, next) {\n  process.stderr.write("LOADED " + url + "\\n")\n  return next(url, context)\n}\n')
  const hook = join(dir, 'hook.mjs')
  writeFileSync(hook, `import { register } from 'node:module'\nregister(${JSON.stringify(pathToFileURL(loader).href)})\n`)
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, '--import', pathToFileURL(hook).href, TROVE, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (b) => (stdout += b))
    child.stderr.on('data', (b) => (stderr += b))
    child.once('error', reject)
    child.once('close', (code) => {
      const lines = stderr.split('\n')
      resolve({ code: code ?? -1, stdout, stderr: lines.filter((l) => !l.startsWith('LOADED ')).join('\n'), loaded: lines.filter((l) => l.startsWith('LOADED ')).map((l) => l.slice(7)) })
    })
  })
}

/**
 * What was loaded, module by module: a chunk of the CLI's bundle (dist/cli-bundle/, scripts/build.mjs)
 * stands for the source modules its source map lists, named as their built files (`.../cli/ui/wait.js`).
 */
function modules(loaded: string[]): string[] {
  return loaded.flatMap((u) => {
    if (!u.includes('/cli-bundle/') || !u.startsWith('file:')) return [u]
    const map = JSON.parse(readFileSync(`${fileURLToPath(u)}.map`, 'utf8')) as { sources: string[] }
    return [u, ...map.sources.map((s) => `bundled:${s.replace(/^(\.\.\/)+src/, '').replace(/\.tsx?$/, '.js')}`)]
  })
}

const under = (loaded: string[], part: string) => modules(loaded).filter((u) => u.includes(part))

t.test('instance create --wait off a terminal loads neither commander nor ink nor React', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const dir = tempDir(t, 'tl')
  // No agent runs here: the instance stays BUILD and the wait ends at its timeout (exit 8), through the whole wait path.
  const r = await traced(dir, ['instance', 'create', 'lazy', '--flavor', 'm1.tiny', '--size', '1', '--datastore', 'redis', '--wait', '--timeout', '1', '-f', 'value', '-c', 'id'], lab.env)
  t.equal(r.code, 8, 'the wait timed out', { stderr: r.stderr })
  t.match(r.stderr, /instance lazy \([0-9a-f-]{36}\): BUILD/, 'the plain progress lines of a non-terminal')
  t.ok(under(r.loaded, '/cli-bundle/main.js').length, 'bin/trove runs the CLI from its bundle (run npm run build with esbuild installed)')
  t.same(under(r.loaded, '/dist/cli/'), [], 'and none of its modules one by one')
  t.ok(under(r.loaded, '/cli/ui/wait.js').length, 'the hook sees the wait module load')
  for (const part of ['/node_modules/ink/', '/node_modules/react/', '/node_modules/commander/', '/node_modules/yaml/', '/cli/program.js', '/cli/commands/index.js']) {
    t.same(under(r.loaded, part), [], `${part} not loaded`)
  }
})

t.test('an agent starts from its one-file build', async (t) => {
  const dir = tempDir(t, 'tl')
  // A bootstrap that does not exist: the agent loads, then says so and exits 1.
  const r = await traced(dir, ['agent', '--config', join(dir, 'missing.json')], { PATH: process.env.PATH ?? '/usr/bin:/bin' })
  t.equal(r.code, 1)
  t.match(r.stderr, /cannot read .*missing\.json: ENOENT/)
  t.ok(
    under(r.loaded, '/agent/bundle.js').length,
    `agent/bundle.js loaded (run npm run build with esbuild installed); loaded: ${r.loaded.map((u) => u.replace(pathToFileURL(ROOT).href, '')).join(' ')}`,
  )
  for (const part of ['/agent/index.js', '/agent/supervisor.js', '/node_modules/mqtt/', '/protocol/index.js']) t.same(under(r.loaded, part), [], `${part} not loaded`)
})
