// The SDK as a package people install: `scripts/pack-sdk.mjs` packs trove-sdk; the tarball has a
// LICENSE, types for every module, source maps whose sources are in it; `npm install` of the
// tarball into an empty project brings only the SDK's own dependencies; a strict TypeScript
// program using resolveAuth with a clouds.yaml type-checks (library types included) and runs
// against a real lab.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { join, dirname, resolve } from 'node:path'
import { parse } from 'yaml'
import { ROOT, startLab, tempDir } from '../helpers/lab.js'

const run = (cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) => execFileSync(cmd, args, { cwd, encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] })

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]))
}

t.test('trove-sdk packs, installs into an empty project, type-checks strictly and runs', async (t) => {
  const dir = tempDir(t, 'sp')
  const tarball = run(process.execPath, [join(ROOT, 'scripts/pack-sdk.mjs'), dir], ROOT).trim()
  t.ok(existsSync(tarball), tarball)

  const unpacked = join(dir, 'unpacked')
  run('mkdir', ['-p', unpacked], dir)
  run('tar', ['xzf', tarball, '-C', unpacked], dir)
  const pkgDir = join(unpacked, 'package')
  const files = walk(pkgDir).map((f) => f.slice(pkgDir.length + 1))
  t.ok(files.includes('LICENSE') && /Apache License/.test(readFileSync(join(pkgDir, 'LICENSE'), 'utf8')), 'a LICENSE')
  t.notOk(
    files.some((f) => /^(dist|src)\/(server|agent|cli|protocol)\//.test(f)),
    'nothing but the SDK',
  )
  const js = files.filter((f) => f.endsWith('.js'))
  t.ok(js.length > 20, `${js.length} modules`)
  t.same(
    js.filter((f) => !files.includes(f.replace(/\.js$/, '.d.ts'))),
    [],
    'every module has its types',
  )
  const missing: string[] = []
  for (const map of files.filter((f) => f.endsWith('.js.map'))) {
    const m = JSON.parse(readFileSync(join(pkgDir, map), 'utf8')) as { sources: string[] }
    for (const s of m.sources) if (!existsSync(resolve(dirname(join(pkgDir, map)), s))) missing.push(`${map} -> ${s}`)
  }
  t.same(missing, [], 'every source map points at a file in the package')
  const manifest = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
  t.same(Object.keys(manifest.dependencies).sort(), ['yaml'], "the SDK's own small dependency set (HTTP is node:http)")

  // An empty project: the tarball plus what a TypeScript user adds, from the local cache when it has them.
  const app = join(dir, 'app')
  run('mkdir', ['-p', app], dir)
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }))
  const typesNode = JSON.parse(readFileSync(join(ROOT, 'node_modules/@types/node/package.json'), 'utf8')).version as string
  const typescript = JSON.parse(readFileSync(join(ROOT, 'node_modules/typescript/package.json'), 'utf8')).version as string
  run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball, `@types/node@${typesNode}`, `typescript@${typescript}`], app)
  const installed = readdirSync(join(app, 'node_modules')).filter((n) => !n.startsWith('.'))
  for (const heavy of ['fastify', 'better-sqlite3', 'aedes', 'ink', 'react', 'mqtt', 'commander']) t.notOk(installed.includes(heavy), `no ${heavy}`)
  t.ok(installed.includes('trove-sdk') && installed.includes('yaml'), 'trove-sdk and yaml installed')
  t.notOk(installed.includes('undici'), 'no undici')

  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        skipLibCheck: false,
        types: ['node'],
        outDir: 'out',
      },
      include: ['main.ts'],
    }),
  )
  writeFileSync(
    join(app, 'main.ts'),
    [
      "import { TroveClient, resolveAuth, NotFoundError, ConfigError, type Flavor, type AuthOptions } from 'trove-sdk'",
      '',
      "const auth: AuthOptions = resolveAuth({ cloud: 'trove-lab' })",
      'const client = new TroveClient({ auth })',
      'const flavors: Flavor[] = await client.flavors.list()',
      "console.log('flavors', flavors.map((f) => f.name).join(','))",
      'let instances = 0',
      'for await (const _ of client.instances.list()) instances++',
      "console.log('instances', instances)",
      "try { await client.instances.get('00000000-0000-4000-8000-000000000000') } catch (e) { if (e instanceof NotFoundError) console.log('not found', e.status) }",
      "try { resolveAuth({ cloud: 'nowhere' }) } catch (e) { if (e instanceof ConfigError) console.log('config error:', e.message) }",
    ].join('\n'),
  )
  run(process.execPath, [join(app, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], app)

  // The lab's clouds.yaml, written as flow-style YAML (JSON): the reader needs the yaml dependency for it.
  const lab = await startLab(t, { spawnAgents: false })
  const clouds = join(dir, 'clouds.yaml')
  writeFileSync(clouds, JSON.stringify(parse(readFileSync(lab.env.OS_CLIENT_CONFIG_FILE!, 'utf8'))), { mode: 0o600 })
  const out = await new Promise<string>((done, fail) => {
    import('node:child_process').then(({ execFile }) =>
      execFile(
        process.execPath,
        ['out/main.js'],
        {
          cwd: app,
          env: { PATH: process.env.PATH, HOME: dir, OS_CLIENT_CONFIG_FILE: clouds },
        },
        (err, stdout, stderr) => (err ? fail(new Error(`${err.message}\n${stderr}`)) : done(stdout)),
      ),
    )
  })
  t.match(out, /^flavors m1\.tiny,.*m1\.xlarge/m, 'the flavors of the lab')
  t.match(out, /^instances 0$/m)
  t.match(out, /^not found 404$/m)
  t.match(out, /^config error: cloud 'nowhere' not found/m)
})
