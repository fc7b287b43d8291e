import t from 'tap'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, resolve, dirname } from 'node:path'
import { ROOT } from './helpers/lab.js'

const SRC = join(ROOT, 'src')

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n)
    return statSync(p).isDirectory() ? files(p) : /\.tsx?$/.test(n) ? [p] : []
  })
}

interface Imp {
  from: string
  target: string
  dynamic: boolean
}

function imports(file: string): Imp[] {
  const text = readFileSync(file, 'utf8')
  const out: Imp[] = []
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/g)) out.push({ from: file, target: m[1], dynamic: false })
  for (const m of text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push({ from: file, target: m[1], dynamic: true })
  return out
}

/** The src/ area a relative import lands in (sdk, cli, server, agent, protocol, common), or the package name. */
function area(imp: Imp): string {
  if (!imp.target.startsWith('.')) return imp.target.startsWith('node:') ? 'node' : imp.target.split('/')[0]
  return relative(SRC, resolve(dirname(imp.from), imp.target)).split('/')[0]
}

const all = files(SRC).flatMap(imports)
const areaOf = (f: string) => relative(SRC, f).split('/')[0]

t.test('the scan sees the imports it checks', async (t) => {
  t.ok(
    all.some((i) => areaOf(i.from) === 'cli' && area(i) === 'sdk'),
    'cli -> sdk found',
  )
  t.ok(
    all.some((i) => areaOf(i.from) === 'cli' && area(i) === 'server' && i.dynamic),
    'the lazy cli -> server entry found',
  )
  t.ok(
    all.some((i) => areaOf(i.from) === 'agent' && area(i) === 'protocol'),
    'agent -> protocol found',
  )
  t.ok(
    all.some((i) => areaOf(i.from) === 'server' && area(i) === 'common'),
    'server -> common found',
  )
  t.ok(
    all.some((i) => areaOf(i.from) === 'agent' && area(i) === 'common'),
    'agent -> common found',
  )
})

// yaml is the one dependency of the SDK's own package (scripts/pack-sdk.mjs); HTTP is node:http.
t.test('the SDK is a leaf: node built-ins, yaml and its own files only', async (t) => {
  const bad = all.filter((i) => areaOf(i.from) === 'sdk' && !['sdk', 'node', 'yaml'].includes(area(i)))
  t.same(
    bad.map((i) => `${relative(ROOT, i.from)} -> ${i.target}`),
    [],
  )
})

t.test('server and agent share only src/protocol', async (t) => {
  const bad = all.filter((i) => (areaOf(i.from) === 'agent' && ['server', 'cli', 'sdk'].includes(area(i))) || (areaOf(i.from) === 'server' && ['agent', 'cli', 'sdk'].includes(area(i))))
  t.same(
    bad.map((i) => `${relative(ROOT, i.from)} -> ${i.target}`),
    [],
  )
  const proto = all.filter((i) => areaOf(i.from) === 'protocol' && !['protocol', 'node'].includes(area(i)))
  t.same(
    proto.map((i) => `${relative(ROOT, i.from)} -> ${i.target}`),
    [],
    'protocol depends on nothing',
  )
})

// src/common holds what server and agent must agree on (engine base configurations, units):
// server, agent and cli may import it; it imports nothing but node built-ins and itself.
t.test('src/common is a leaf that server, agent and cli may share', async (t) => {
  const bad = all.filter((i) => areaOf(i.from) === 'common' && !['common', 'node'].includes(area(i)))
  t.same(
    bad.map((i) => `${relative(ROOT, i.from)} -> ${i.target}`),
    [],
  )
  const users = all.filter((i) => area(i) === 'common' && !['common', 'server', 'agent', 'cli'].includes(areaOf(i.from)))
  t.same(
    users.map((i) => `${relative(ROOT, i.from)} -> ${i.target}`),
    [],
    'only server, agent and cli import common',
  )
})

t.test('the CLI reaches server and agent only through lazily loaded entry points', async (t) => {
  const bad = all.filter((i) => areaOf(i.from) === 'cli' && ['server', 'agent'].includes(area(i)) && !(i.dynamic && /\/(server|agent)\/index\.js$/.test(i.target)))
  t.same(
    bad.map((i) => `${relative(ROOT, i.from)} -> ${i.target}`),
    [],
  )
})

t.test('no MQTT topic literal outside src/protocol', async (t) => {
  const offenders = files(SRC).filter((f) => areaOf(f) !== 'protocol' && /['"`]trove\/(agent|notify)\//.test(readFileSync(f, 'utf8')))
  t.same(
    offenders.map((f) => relative(ROOT, f)),
    [],
  )
})
