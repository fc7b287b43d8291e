import t from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { cleanEnv, labClient, ROOT, TROVE, tempDir } from '../helpers/lab.js'

/**
 * scripts/build.mjs: a build never rewrites the dist/ a running lab loads from (tsc used
 * to write into dist/ in place: a CLI started mid-build failed with a SyntaxError), and
 * an up-to-date build does nothing (a start used to rebuild every time).
 */
t.test('the build swaps dist atomically, keeps the previous build, and skips when up to date', async (t) => {
  const root = tempDir(t, 'bd')
  mkdirSync(join(root, 'scripts'))
  mkdirSync(join(root, 'src'))
  copyFileSync(join(ROOT, 'scripts/build.mjs'), join(root, 'scripts/build.mjs'))
  copyFileSync(join(ROOT, 'tsconfig.json'), join(root, 'tsconfig.json'))
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'))
  const build = () => execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { env: { PATH: process.env.PATH }, encoding: 'utf8' })

  writeFileSync(join(root, 'src/a.ts'), 'export const v: number = 1\n')
  build()
  t.ok(lstatSync(join(root, 'dist')).isSymbolicLink(), 'dist is a link to one complete build')
  const first = readlinkSync(join(root, 'dist'))
  t.match(first, /^\.dist\.\S+$/)
  t.match(readFileSync(join(root, 'dist/a.js'), 'utf8'), /\bv = 1;/)
  const loadedFrom = realpathSync(join(root, 'dist/a.js')) // where a running process resolved its modules

  build()
  t.equal(readlinkSync(join(root, 'dist')), first, 'nothing changed: nothing rebuilt')

  writeFileSync(join(root, 'src/a.ts'), 'export const v: number = 2\n')
  build()
  const second = readlinkSync(join(root, 'dist'))
  t.not(second, first, 'a change builds into a new directory')
  t.match(readFileSync(join(root, 'dist/a.js'), 'utf8'), /\bv = 2;/)
  t.match(readFileSync(loadedFrom, 'utf8'), /\bv = 1;/, 'the build a running lab loaded from is untouched')

  writeFileSync(join(root, 'src/a.ts'), 'export const v: number = "x"\n')
  t.throws(() => execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { stdio: 'ignore' }), 'a type error fails the build')
  t.equal(readlinkSync(join(root, 'dist')), second, 'and leaves dist as it was')
  t.ok(existsSync(join(root, 'dist/a.js')))
})

/**
 * issue 11: `trove server` loads the server's one-file build (dist/server/bundle.js), not its
 * modules and packages one by one, and what the server finds by its modules' own paths still
 * resolves from there: package.json (read at load: the server would not start), the parameter
 * rules of configuration groups (read on the first request). A module-loading hook records
 * every module the real `trove server` process loads.
 */
t.test("trove server starts from the server bundle, and its modules' own paths still resolve", async (t) => {
  t.ok(existsSync(join(ROOT, 'dist/server/bundle.js')), 'the build made dist/server/bundle.js')
  const dir = tempDir(t, 'sb')
  const loaded = join(dir, 'loaded')
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs'\nexport async function load(url, context, next) {\n  appendFileSync(${JSON.stringify(loaded)}, url + '\\n')\n  return next(url, context)\n}\n`,
  )
  writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module'\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)})\n`)
  // As troveCommand(): `env -u` keeps tap's loader (injected into children's NODE_OPTIONS) out.
  const child = spawn(
    '/usr/bin/env',
    ['-u', 'NODE_OPTIONS', process.execPath, '--import', pathToFileURL(join(dir, 'register.mjs')).href, TROVE, 'server', '--data-dir', join(dir, 'lab'), '--port', '0'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: cleanEnv(),
    },
  )
  const exited = once(child, 'exit')
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      await exited
    }
  })
  let out = ''
  await new Promise<void>((ready, fail) => {
    const onData = (b: Buffer) => {
      out += b
      if (/listening on http/.test(out) && out.includes('use it:')) ready()
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('exit', (c) => fail(new Error(`trove server exited ${c}: ${out}`)))
  })
  const client = labClient(join(dir, 'lab/clouds.yaml'))
  const redis = await client.datastores.get('redis')
  const params = await client.configurationParameters.list(redis.versions[0].id)
  t.ok(
    params.some((p) => p.name === 'maxmemory'),
    'the rules of configuration parameters are read from their file',
  )
  child.kill('SIGTERM')
  t.equal((await exited)[0], 0, 'stops cleanly')

  const urls = readFileSync(loaded, 'utf8').split('\n')
  t.ok(
    urls.some((u) => u.endsWith('/server/bundle.js')),
    'the server bundle is loaded',
  )
  t.same(
    urls.filter((u) => /\/server\/index\.js$|\/node_modules\/(fastify|aedes)\//.test(u)),
    [],
    "neither the server's modules nor its packages are loaded one by one",
  )
})
