import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { ConfigError, candidateFiles, loadClouds, mergeClouds, type ConfigFs } from '../../../src/cli/config/index.js'

/** A fake file system: cwd and home under a temp dir, `/etc` files only where listed. */
function virtualFs(files: Record<string, string>, cwd = '/work/proj', home = '/home/u'): Partial<ConfigFs> {
  return {
    exists: (f) => f in files,
    readFile: (f) => {
      const text = files[f]
      if (text === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' })
      return text
    },
    cwd: () => cwd,
    homedir: () => home,
  }
}

const cloud = (name: string) => `clouds:\n  ${name}:\n    auth_type: none\n`

t.test('search order: ./clouds.yaml, ~/.config/openstack, /etc/openstack', async (t) => {
  t.same(candidateFiles('clouds', { cwd: () => '/w', homedir: () => '/h' }), [
    '/w/clouds.yaml',
    '/w/clouds.yml',
    '/w/clouds.json',
    '/h/.config/openstack/clouds.yaml',
    '/h/.config/openstack/clouds.yml',
    '/h/.config/openstack/clouds.json',
    '/etc/openstack/clouds.yaml',
    '/etc/openstack/clouds.yml',
    '/etc/openstack/clouds.json',
  ])
  const all = {
    '/work/proj/clouds.yaml': cloud('cwd'),
    '/home/u/.config/openstack/clouds.yaml': cloud('home'),
    '/etc/openstack/clouds.yaml': cloud('etc'),
  }
  t.same(loadClouds({}, virtualFs(all)), { document: { clouds: { cwd: { auth_type: 'none' } } }, files: ['/work/proj/clouds.yaml'] })
  const noCwd = { ...all } as Record<string, string>
  delete noCwd['/work/proj/clouds.yaml']
  t.same(loadClouds({}, virtualFs(noCwd)).files, ['/home/u/.config/openstack/clouds.yaml'])
  t.same(loadClouds({}, virtualFs({ '/etc/openstack/clouds.yaml': cloud('etc') })).files, ['/etc/openstack/clouds.yaml'])
  t.same(loadClouds({}, virtualFs({ '/home/u/.config/openstack/clouds.yml': cloud('yml') })).document, { clouds: { yml: { auth_type: 'none' } } })
  t.same(loadClouds({}, virtualFs({})), { document: undefined, files: [] })
})

t.test('OS_CLIENT_CONFIG_FILE comes first and must exist', async (t) => {
  const files = { '/work/proj/clouds.yaml': cloud('cwd'), '/cfg/mine.yaml': cloud('mine') }
  t.same(loadClouds({ OS_CLIENT_CONFIG_FILE: '/cfg/mine.yaml' }, virtualFs(files)).files, ['/cfg/mine.yaml'])
  t.same(loadClouds({ OS_CLIENT_CONFIG_FILE: 'sub/c.yaml' }, virtualFs({ '/work/proj/sub/c.yaml': cloud('rel') })).files, ['/work/proj/sub/c.yaml'], 'relative to cwd')
  t.same(loadClouds({ OS_CLIENT_CONFIG_FILE: '' }, virtualFs(files)).files, ['/work/proj/clouds.yaml'], 'empty is unset')
  t.throws(() => loadClouds({ OS_CLIENT_CONFIG_FILE: '/cfg/missing.yaml' }, virtualFs(files)), {
    constructor: ConfigError,
    code: 'missing_config_file',
    message: 'OS_CLIENT_CONFIG_FILE names /cfg/missing.yaml, which does not exist',
  })
})

t.test('secure.yaml is deep-merged over clouds.yaml', async (t) => {
  const files = {
    '/work/proj/clouds.yaml': 'clouds:\n  lab:\n    region_name: R1\n    auth:\n      auth_url: http://k/v3\n      username: u\n',
    '/home/u/.config/openstack/secure.yaml': 'clouds:\n  lab:\n    auth:\n      password: pw\n  other:\n    auth_type: none\n',
  }
  t.same(loadClouds({}, virtualFs(files)), {
    document: {
      clouds: {
        lab: { region_name: 'R1', auth: { auth_url: 'http://k/v3', username: 'u', password: 'pw' } },
        other: { auth_type: 'none' },
      },
    },
    files: ['/work/proj/clouds.yaml', '/home/u/.config/openstack/secure.yaml'],
  })
  const named = { ...files, '/s/sec.yaml': 'clouds:\n  lab:\n    auth:\n      password: other\n' }
  t.equal((loadClouds({ OS_CLIENT_SECURE_FILE: '/s/sec.yaml' }, virtualFs(named)).document as { clouds: { lab: { auth: { password: string } } } }).clouds.lab.auth.password, 'other')
  t.throws(() => loadClouds({ OS_CLIENT_SECURE_FILE: '/s/none.yaml' }, virtualFs(files)), {
    message: 'OS_CLIENT_SECURE_FILE names /s/none.yaml, which does not exist',
  })
  t.same(loadClouds({}, virtualFs({ '/home/u/.config/openstack/secure.yaml': 'clouds: {}' })), { document: undefined, files: [] }, 'secure.yaml alone is not a clouds.yaml')
  t.same(mergeClouds({ a: { b: 1, c: [1] } }, { a: { c: [2], d: null }, e: 'x' }), { a: { b: 1, c: [2], d: null }, e: 'x' })
})

t.test('YAML 1.1 values and duplicate keys, as PyYAML reads them', async (t) => {
  const doc = loadClouds({}, virtualFs({ '/work/proj/clouds.yaml': 'clouds:\n  c:\n    verify: no\n    region_name: A\n    region_name: B\n' })).document
  t.same(doc, { clouds: { c: { verify: false, region_name: 'B' } } })
  t.same(loadClouds({}, virtualFs({ '/work/proj/clouds.yaml': '' })).document, {}, 'an empty file is an empty document')
})

t.test('syntax errors name the file and the line', async (t) => {
  t.throws(() => loadClouds({}, virtualFs({ '/work/proj/clouds.yaml': 'clouds:\n  lab:\n    auth: {auth_url: x\n' })), {
    constructor: ConfigError,
    code: 'invalid_yaml',
    message: 'invalid yaml in /work/proj/clouds.yaml at line 4, column 1: flow map in block collection must be sufficiently indented and end with a }',
  })
  t.throws(() => loadClouds({}, virtualFs({ '/work/proj/clouds.yaml': 'clouds:\n  a: b: c\n' })), {
    message: 'invalid yaml in /work/proj/clouds.yaml at line 2, column 6: nested mappings are not allowed in compact mappings',
  })
})

t.test('real files in a temp directory, with an injected HOME and cwd', async (t) => {
  const dir = t.testdir({
    proj: {},
    home: { '.config': { openstack: { 'clouds.yaml': cloud('home'), 'secure.yaml': 'clouds:\n  home:\n    auth:\n      password: pw\n' } } },
    broken: { 'clouds.yaml': 'clouds:\n  - [unclosed\n' },
  })
  const home = path.join(dir, 'home')
  const loaded = loadClouds({ HOME: home }, { cwd: () => path.join(dir, 'proj') })
  t.same(loaded.files, [path.join(home, '.config/openstack/clouds.yaml'), path.join(home, '.config/openstack/secure.yaml')])
  t.same(loaded.document, { clouds: { home: { auth_type: 'none', auth: { password: 'pw' } } } })
  t.throws(() => loadClouds({ HOME: home }, { cwd: () => path.join(dir, 'broken') }), {
    code: 'invalid_yaml',
    message: new RegExp(`^invalid yaml in ${path.join(dir, 'broken', 'clouds.yaml')} at line \\d+, column \\d+: `),
  })
  const unreadable = path.join(dir, 'proj', 'clouds.yaml')
  fs.mkdirSync(unreadable)
  t.throws(() => loadClouds({ HOME: home }, { cwd: () => path.join(dir, 'proj') }), {
    code: 'unreadable_config',
    message: `cannot read ${unreadable}: is a directory`,
  })
})
