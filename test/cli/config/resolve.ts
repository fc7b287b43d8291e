import t from 'tap'
import * as path from 'node:path'
import { ConfigError, ENV_VARS, resolveCliAuth, resolveCliAuthWithOrigin } from '../../../src/cli/config/index.js'

const CLOUDS_YAML = `clouds:
  trove-lab:
    auth:
      auth_url: http://127.0.0.1:5000/v3
      username: admin
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
  trove-lab-admin:
    auth_type: admin_token
    auth:
      endpoint: http://127.0.0.1:8779/v1.0/p1
`
const SECURE_YAML = `clouds:
  trove-lab:
    auth:
      password: from-secure
  trove-lab-admin:
    auth:
      token: tok
`

t.test('resolveCliAuth reads clouds.yaml and secure.yaml when a cloud is selected', async (t) => {
  const dir = t.testdir({ proj: { 'clouds.yaml': CLOUDS_YAML }, home: { '.config': { openstack: { 'secure.yaml': SECURE_YAML } } } })
  const fsImpl = { cwd: () => path.join(dir, 'proj'), homedir: () => path.join(dir, 'home') }
  t.same(resolveCliAuth({}, { OS_CLOUD: 'trove-lab' }, fsImpl), {
    authType: 'password',
    interface: 'public',
    authUrl: 'http://127.0.0.1:5000/v3',
    username: 'admin',
    password: 'from-secure',
    projectName: 'admin',
    userDomainName: 'Default',
    projectDomainName: 'Default',
    regionName: 'RegionOne',
  })
  t.same(resolveCliAuth({ 'os-cloud': 'trove-lab-admin' }, { OS_CLOUD: 'trove-lab' }, fsImpl), {
    authType: 'admin_token',
    interface: 'public',
    endpoint: 'http://127.0.0.1:8779/v1.0/p1',
    token: 'tok',
  })
  const withOrigin = resolveCliAuthWithOrigin({ osCloud: 'trove-lab', osRegionName: 'R2' }, { OS_USERNAME: 'env-user' }, fsImpl)
  t.equal(withOrigin.options.regionName, 'R2')
  t.equal(withOrigin.origin['regionName'], 'flag')
  t.equal(withOrigin.options.username, 'env-user')
  t.equal(withOrigin.origin['username'], 'env')
  t.equal(withOrigin.origin['password'], 'cloud')
})

t.test('without a cloud no file is read, so a broken clouds.yaml does not matter', async (t) => {
  const dir = t.testdir({ 'clouds.yaml': 'clouds: [' })
  t.same(resolveCliAuth({ 'os-auth-type': 'none', 'os-endpoint': 'http://127.0.0.1:8779' }, {}, { cwd: () => dir, homedir: () => dir }), {
    authType: 'none',
    interface: 'public',
    endpoint: 'http://127.0.0.1:8779',
  })
  t.throws(() => resolveCliAuth({}, { OS_CLOUD: 'x' }, { cwd: () => dir, homedir: () => dir }), { code: 'invalid_yaml' })
})

t.test('a selected cloud with no clouds.yaml anywhere lists where it looked', async (t) => {
  const dir = t.testdir({ proj: {}, home: {} })
  const home = path.join(dir, 'home')
  const fsImpl = { cwd: () => path.join(dir, 'proj'), homedir: () => home, exists: () => false }
  t.throws(() => resolveCliAuth({}, { OS_CLOUD: 'trove-lab' }, fsImpl), {
    constructor: ConfigError,
    code: 'unknown_cloud',
    message: `cloud 'trove-lab' not found: no clouds.yaml in ${path.join(dir, 'proj', 'clouds.yaml')}, ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml`,
  })
})

t.test('an unknown cloud lists the known ones', async (t) => {
  const dir = t.testdir({ 'clouds.yaml': CLOUDS_YAML })
  t.throws(() => resolveCliAuth({ 'os-cloud': 'x' }, {}, { cwd: () => dir, homedir: () => dir }), {
    message: "cloud 'x' not found in clouds.yaml (known: trove-lab, trove-lab-admin)",
  })
})

t.test('ENV_VARS lists every variable the CLI reads, each once, with its flag', async (t) => {
  const names = ENV_VARS.map((v) => v.name)
  t.same(new Set(names).size, names.length, 'no duplicates')
  for (const required of [
    'OS_CLOUD',
    'OS_CLIENT_CONFIG_FILE',
    'OS_AUTH_URL',
    'OS_USERNAME',
    'OS_USER_ID',
    'OS_PASSWORD',
    'OS_PROJECT_NAME',
    'OS_PROJECT_ID',
    'OS_TENANT_NAME',
    'OS_TENANT_ID',
    'OS_USER_DOMAIN_NAME',
    'OS_USER_DOMAIN_ID',
    'OS_PROJECT_DOMAIN_NAME',
    'OS_PROJECT_DOMAIN_ID',
    'OS_AUTH_TYPE',
    'OS_TOKEN',
    'OS_ENDPOINT',
    'OS_REGION_NAME',
    'OS_INTERFACE',
    'OS_CACERT',
    'OS_INSECURE',
    'CLIFF_MAX_TERM_WIDTH',
    'CLIFF_FIT_WIDTH',
    'TROVE_DATA_DIR',
    'NO_COLOR',
  ]) {
    t.ok(names.includes(required), required)
  }
  const flag = (name: string) => ENV_VARS.find((v) => v.name === name)?.flag
  t.equal(flag('OS_AUTH_URL'), '--os-auth-url')
  t.equal(flag('OS_CLOUD'), '--os-cloud')
  t.equal(flag('OS_INSECURE'), '--insecure')
  t.equal(flag('CLIFF_MAX_TERM_WIDTH'), '--max-width')
  t.equal(flag('CLIFF_FIT_WIDTH'), '--fit-width')
  t.equal(flag('OS_CLIENT_CONFIG_FILE'), undefined)
  t.same(
    ENV_VARS.filter((v) => v.secret).map((v) => v.name),
    ['OS_PASSWORD', 'OS_TOKEN'],
  )
  for (const v of ENV_VARS) {
    t.match(v.description, /\.$/, `${v.name} has a one-sentence description`)
    if (v.flag) t.match(v.flag, /^--[a-z][a-z-]*$/, `${v.name} flag is a long option`)
  }
})

t.test('every OS_* flag in the registry is honoured by resolveCliAuth', async (t) => {
  const byFlag: Record<string, string> = {
    '--os-auth-url': 'http://k/v3',
    '--os-username': 'u',
    '--os-password': 'p',
    '--os-project-name': 'pn',
    '--os-user-domain-name': 'ud',
    '--os-project-domain-name': 'pd',
    '--os-region-name': 'r',
    '--os-interface': 'admin',
    '--os-cacert': '/ca',
    '--insecure': 'true',
    '--os-auth-type': 'password',
  }
  const flags = Object.fromEntries(Object.entries(byFlag).map(([f, v]) => [f.slice(2), v]))
  const { origin } = resolveCliAuthWithOrigin(flags, {})
  for (const key of ['authUrl', 'username', 'password', 'projectName', 'userDomainName', 'projectDomainName', 'regionName', 'interface', 'cacert', 'insecure', 'authType']) {
    t.equal(origin[key], 'flag', key)
  }
  const env = Object.fromEntries(ENV_VARS.filter((v) => v.flag && byFlag[v.flag] !== undefined).map((v) => [v.name, byFlag[v.flag as string] as string]))
  const fromEnv = resolveCliAuthWithOrigin({}, env)
  for (const key of ['authUrl', 'username', 'password', 'projectName', 'userDomainName', 'projectDomainName', 'regionName', 'interface', 'cacert', 'insecure', 'authType']) {
    t.equal(fromEnv.origin[key], 'env', key)
  }
})
