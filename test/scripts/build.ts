import t from 'tap'
import { execFileSync } from 'node:child_process'
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT, tempDir } from '../helpers/lab.js'

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
