#!/usr/bin/env node
// Packs the SDK alone as `trove-sdk`: dist/sdk (JS, .d.ts, source maps) and the src/sdk the maps
// point at, with only the SDK's own dependency (yaml), so an application installs a
// small client instead of the server's stack (fastify, better-sqlite3, aedes, ink, ...).
// npm has no way to pack a sub-folder of one package as another, hence this script.
// Usage: node scripts/pack-sdk.mjs [DEST_DIR]   (after `npm run build`); prints the tarball's path.
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(fileURLToPath(import.meta.url), '../..')
const dest = resolve(process.argv[2] ?? root)
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
if (!existsSync(join(root, 'dist/sdk/index.js'))) throw new Error('dist/sdk is missing: run npm run build first')

const stage = mkdtempSync(join(tmpdir(), 'trove-sdk-'))
try {
  cpSync(join(root, 'dist/sdk'), join(stage, 'dist/sdk'), { recursive: true })
  cpSync(join(root, 'src/sdk'), join(stage, 'src/sdk'), { recursive: true })
  cpSync(join(root, 'LICENSE'), join(stage, 'LICENSE'))
  cpSync(join(root, 'docs/sdk.md'), join(stage, 'README.md'))
  const entry = { types: './dist/sdk/index.d.ts', default: './dist/sdk/index.js' }
  const sdkPkg = {
    name: 'trove-sdk',
    version: pkg.version,
    description: 'Typed client of the OpenStack Trove v1.0 API (Keystone v3, clouds.yaml) from the trove toolkit',
    type: 'module',
    license: pkg.license,
    engines: pkg.engines,
    main: './dist/sdk/index.js',
    types: './dist/sdk/index.d.ts',
    exports: { '.': entry, './package.json': './package.json' },
    sideEffects: false,
    files: ['dist', 'src', 'LICENSE', 'README.md'],
    dependencies: { yaml: pkg.dependencies.yaml },
  }
  writeFileSync(join(stage, 'package.json'), JSON.stringify(sdkPkg, null, 2) + '\n')
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', dest], { cwd: stage, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  process.stdout.write(join(dest, JSON.parse(out)[0].filename) + '\n')
} finally {
  rmSync(stage, { recursive: true, force: true })
}
