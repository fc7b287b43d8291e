import t from 'tap'
import { ConfigError, resolveAuthOptions, type ConfigSources } from '../../../src/sdk/auth/config.js'

const PASSWORD_ENV = {
  OS_AUTH_URL: 'http://127.0.0.1:5000/v3',
  OS_USERNAME: 'admin',
  OS_PASSWORD: 's3cret-pw',
  OS_PROJECT_NAME: 'admin',
  OS_USER_DOMAIN_NAME: 'Default',
  OS_PROJECT_DOMAIN_NAME: 'Default',
}

const resolve = (src: Partial<ConfigSources>) => resolveAuthOptions({ flags: {}, env: {}, ...src })

const CLOUDS = {
  clouds: {
    'trove-lab': {
      auth: {
        auth_url: 'http://keystone.lab:5000/v3',
        username: 'cloud-user',
        password: 'cloud-pw',
        project_name: 'cloud-project',
        user_domain_name: 'CloudDomain',
        project_domain_name: 'CloudDomain',
      },
      region_name: 'RegionOne',
      interface: 'internal',
      cacert: '/etc/ssl/lab.pem',
    },
    'trove-lab-admin': { auth_type: 'admin_token', auth: { endpoint: 'http://127.0.0.1:8779/v1.0/p1', token: 'tok' } },
  },
}

t.test('password auth from OS_* environment variables', async (t) => {
  const { options, origin } = resolve({ env: PASSWORD_ENV })
  t.same(options, {
    authType: 'password',
    interface: 'public',
    authUrl: 'http://127.0.0.1:5000/v3',
    username: 'admin',
    password: 's3cret-pw',
    projectName: 'admin',
    userDomainName: 'Default',
    projectDomainName: 'Default',
  })
  t.same(origin, {
    authType: 'default',
    interface: 'default',
    authUrl: 'env',
    username: 'env',
    password: 'env',
    projectName: 'env',
    userDomainName: 'env',
    projectDomainName: 'env',
  })
})

t.test('precedence: flag > env > clouds.yaml > default', async (t) => {
  const env = { ...PASSWORD_ENV, OS_PROJECT_NAME: 'env-project', OS_CLOUD: 'trove-lab' }
  const { options, origin } = resolve({ flags: { 'os-project-name': 'flag-project' }, env, clouds: CLOUDS })
  t.equal(options.projectName, 'flag-project')
  t.equal(origin['projectName'], 'flag')
  t.equal(options.username, 'admin')
  t.equal(origin['username'], 'env')
  t.equal(options.regionName, 'RegionOne')
  t.equal(origin['regionName'], 'cloud')
  t.equal(options.interface, 'internal')
  t.equal(origin['interface'], 'cloud')
  t.equal(options.cacert, '/etc/ssl/lab.pem')
  t.equal(origin['authType'], 'default')

  const cloudOnly = resolve({ env: { OS_CLOUD: 'trove-lab' }, clouds: CLOUDS })
  t.same(cloudOnly.options, {
    authType: 'password',
    interface: 'internal',
    authUrl: 'http://keystone.lab:5000/v3',
    username: 'cloud-user',
    password: 'cloud-pw',
    projectName: 'cloud-project',
    userDomainName: 'CloudDomain',
    projectDomainName: 'CloudDomain',
    regionName: 'RegionOne',
    cacert: '/etc/ssl/lab.pem',
  })
})

t.test('empty environment variables count as unset; an empty flag unsets', async (t) => {
  const env = { OS_CLOUD: 'trove-lab', OS_REGION_NAME: '' }
  t.equal(resolve({ env, clouds: CLOUDS }).options.regionName, 'RegionOne')
  const r = resolve({ env, clouds: CLOUDS, flags: { 'os-region-name': '' } })
  t.equal(r.options.regionName, undefined)
  t.equal(r.origin['regionName'], undefined)
})

t.test('flags may use commander camelCase keys', async (t) => {
  const { options, origin } = resolve({
    flags: { osAuthType: 'none', osEndpoint: 'http://127.0.0.1:8779/v1.0/p1', osInterface: 'admin' },
  })
  t.same(options, { authType: 'none', interface: 'admin', endpoint: 'http://127.0.0.1:8779/v1.0/p1' })
  t.same(origin, { authType: 'flag', endpoint: 'flag', interface: 'flag' })
})

t.test('OS_TENANT_NAME / OS_TENANT_ID are aliases; the project variables win', async (t) => {
  const base = { OS_AUTH_URL: 'http://k:5000/v3', OS_USERNAME: 'u', OS_PASSWORD: 'p' }
  const a = resolve({ env: { ...base, OS_TENANT_NAME: 'tn', OS_TENANT_ID: 'tid' } }).options
  t.equal(a.projectName, 'tn')
  t.equal(a.projectId, 'tid')
  const b = resolve({ env: { ...base, OS_TENANT_NAME: 'tn', OS_PROJECT_NAME: 'pn' } }).options
  t.equal(b.projectName, 'pn')
  const c = resolve({ env: base, flags: { 'os-tenant-name': 'flag-tenant' } }).options
  t.equal(c.projectName, 'flag-tenant')
  const d = resolve({ env: { ...base, OS_CLOUD: 'c' }, clouds: { clouds: { c: { auth: { tenant_id: 'cloud-tenant' } } } } }).options
  t.equal(d.projectId, 'cloud-tenant')
})

t.test('auth type: explicit values and aliases', async (t) => {
  const env = { ...PASSWORD_ENV, OS_AUTH_TYPE: 'v3password' }
  t.equal(resolve({ env }).options.authType, 'password')
  const token = resolve({ env: { OS_AUTH_TYPE: 'v3token', OS_TOKEN: 'T', OS_AUTH_URL: 'http://k/v3', OS_PROJECT_ID: 'p1' } })
  t.same(token.options, { authType: 'token', interface: 'public', authUrl: 'http://k/v3', token: 'T', projectId: 'p1' })
  t.equal(token.origin['authType'], 'env')
  t.throws(() => resolve({ env: { ...PASSWORD_ENV, OS_AUTH_TYPE: 'v2password' } }), {
    constructor: ConfigError,
    code: 'invalid_auth_type',
    message: "unsupported auth type 'v2password' from OS_AUTH_TYPE; use password, token, none or admin_token",
  })
  t.throws(() => resolve({ env: PASSWORD_ENV, flags: { 'os-auth-type': 'token_endpoint' } }), {
    message: "unsupported auth type 'token_endpoint' from --os-auth-type; use password, token, none or admin_token",
  })
})

t.test('auth type inferred: username -> password, token only -> token, endpoint only -> none', async (t) => {
  t.equal(resolve({ env: { ...PASSWORD_ENV, OS_TOKEN: 'T' } }).options.authType, 'password')
  const tok = resolve({ env: { OS_TOKEN: 'T', OS_AUTH_URL: 'http://k/v3' } })
  t.equal(tok.options.authType, 'token')
  t.equal(tok.origin['authType'], 'default')
  const none = resolve({ env: { OS_ENDPOINT: 'http://127.0.0.1:8779/v1.0/p1', OS_PROJECT_NAME: 'ignored', OS_USER_DOMAIN_NAME: 'x' } })
  t.same(none.options, { authType: 'none', interface: 'public', endpoint: 'http://127.0.0.1:8779/v1.0/p1' })
  t.same(none.origin, { authType: 'default', interface: 'default', endpoint: 'env' }, 'ignored settings are dropped')
})

t.test('domains default to id "default" for password auth only, like osc-lib', async (t) => {
  const env = { OS_AUTH_URL: 'http://k/v3', OS_USERNAME: 'u', OS_PASSWORD: 'p', OS_PROJECT_NAME: 'p' }
  const { options, origin } = resolve({ env })
  t.equal(options.userDomainId, 'default')
  t.equal(options.projectDomainId, 'default')
  t.equal(origin['userDomainId'], 'default')
  t.equal(options.userDomainName, undefined)
  const named = resolve({ env: { ...env, OS_USER_DOMAIN_NAME: 'D' } }).options
  t.equal(named.userDomainName, 'D')
  t.equal(named.userDomainId, undefined)
  t.equal(named.projectDomainId, 'default')
  const token = resolve({ env: { OS_AUTH_URL: 'http://k/v3', OS_TOKEN: 'T', OS_PROJECT_NAME: 'p' } }).options
  t.equal(token.projectDomainId, undefined)
})

t.test('password/token auth ignore --os-endpoint (the catalog wins, as in OSC)', async (t) => {
  const r = resolve({ env: { ...PASSWORD_ENV, OS_ENDPOINT: 'http://127.0.0.1:8779/v1.0/p1' } })
  t.equal(r.options.endpoint, undefined)
  t.equal(r.origin['endpoint'], undefined)
})

t.test('admin_token keeps token and endpoint', async (t) => {
  const r = resolve({ env: { OS_CLOUD: 'trove-lab-admin' }, clouds: CLOUDS })
  t.same(r.options, { authType: 'admin_token', interface: 'public', endpoint: 'http://127.0.0.1:8779/v1.0/p1', token: 'tok' })
  t.same(r.origin, { authType: 'cloud', interface: 'default', token: 'cloud', endpoint: 'cloud' })
})

t.test('interface: v2 spellings accepted, anything else rejected', async (t) => {
  t.equal(resolve({ env: { ...PASSWORD_ENV, OS_INTERFACE: 'internalURL' } }).options.interface, 'internal')
  t.throws(() => resolve({ env: { ...PASSWORD_ENV, OS_INTERFACE: 'private' } }), {
    code: 'invalid_interface',
    message: "invalid interface 'private' from OS_INTERFACE; use public, internal or admin",
  })
})

t.test('TLS settings: OS_INSECURE, --insecure, --verify, clouds.yaml verify', async (t) => {
  t.equal(resolve({ env: { ...PASSWORD_ENV, OS_INSECURE: 'True' } }).options.insecure, true)
  t.equal(resolve({ env: { ...PASSWORD_ENV, OS_INSECURE: 'false' } }).options.insecure, false)
  t.equal(resolve({ env: { ...PASSWORD_ENV, OS_INSECURE: 'true' }, flags: { verify: 'true' } }).options.insecure, false)
  t.equal(resolve({ env: PASSWORD_ENV, flags: { insecure: 'true' } }).options.insecure, true)
  const verifyOff = { clouds: { c: { auth: { auth_url: 'http://k/v3', username: 'u', password: 'p' }, verify: false } } }
  t.equal(resolve({ env: { OS_CLOUD: 'c' }, clouds: verifyOff }).options.insecure, true)
  const verifyCa = { clouds: { c: { auth: { auth_url: 'http://k/v3', username: 'u', password: 'p' }, verify: '/ca.pem' } } }
  const ca = resolve({ env: { OS_CLOUD: 'c' }, clouds: verifyCa }).options
  t.equal(ca.cacert, '/ca.pem')
  t.equal(ca.insecure, undefined)
  t.throws(() => resolve({ env: { ...PASSWORD_ENV, OS_INSECURE: 'maybe' } }), {
    code: 'invalid_boolean',
    message: "invalid OS_INSECURE 'maybe': expected true or false",
  })
})

t.test('clouds.yaml conveniences: hyphenated keys, top-level scope keys, domain_name, regions, numbers', async (t) => {
  const clouds = {
    clouds: {
      c: {
        'auth-type': 'password',
        auth: { 'auth-url': 'http://k/v3', username: 'u', password: 'p', domain_name: 'Shared' },
        project_id: 12345,
        regions: [{ name: 'R2' }, 'R3'],
      },
    },
  }
  const { options } = resolve({ env: { OS_CLOUD: 'c' }, clouds })
  t.equal(options.authUrl, 'http://k/v3')
  t.equal(options.projectId, '12345')
  t.equal(options.userDomainName, 'Shared')
  t.equal(options.projectDomainName, 'Shared')
  t.equal(options.regionName, 'R2')
})

t.test('the cloud comes from cloudName, then --os-cloud, then OS_CLOUD', async (t) => {
  const clouds = {
    clouds: {
      a: { auth_type: 'none', auth: { endpoint: 'http://a:8779/' } },
      b: { auth_type: 'none', auth: { endpoint: 'http://b:8779/' } },
    },
  }
  t.equal(resolve({ env: { OS_CLOUD: 'a' }, clouds }).options.endpoint, 'http://a:8779/')
  t.equal(resolve({ env: { OS_CLOUD: 'a' }, flags: { 'os-cloud': 'b' }, clouds }).options.endpoint, 'http://b:8779/')
  t.equal(resolve({ env: { OS_CLOUD: 'a' }, flags: { 'os-cloud': 'b' }, cloudName: 'a', clouds }).options.endpoint, 'http://a:8779/')
  t.throws(() => resolve({ env: { OS_CLOUD: 'a' }, flags: { 'os-cloud': '' }, clouds }), { code: 'missing_auth_url' }, '--os-cloud "" turns OS_CLOUD off')
})

t.test('cloud errors', async (t) => {
  t.throws(() => resolve({ env: { OS_CLOUD: 'x' }, clouds: CLOUDS }), {
    constructor: ConfigError,
    code: 'unknown_cloud',
    message: "cloud 'x' not found in clouds.yaml (known: trove-lab, trove-lab-admin)",
  })
  t.throws(() => resolve({ env: { OS_CLOUD: 'x' }, clouds: { clouds: {} } }), {
    message: "cloud 'x' not found in clouds.yaml (known: none)",
  })
  t.throws(() => resolve({ env: { OS_CLOUD: 'x' } }), {
    code: 'unknown_cloud',
    message: "cloud 'x' not found: no clouds.yaml file was found",
  })
  t.throws(() => resolve({ env: { OS_CLOUD: 'x' }, clouds: { clouds: ['x'] } }), {
    code: 'invalid_clouds',
    message: "invalid clouds.yaml: 'clouds' must be a mapping of cloud names to settings",
  })
  t.throws(() => resolve({ env: { OS_CLOUD: 'x' }, clouds: { clouds: { x: 'oops' } } }), {
    message: "invalid clouds.yaml: cloud 'x' must be a mapping",
  })
  t.throws(() => resolve({ env: { OS_CLOUD: 'x' }, clouds: { clouds: { x: { auth: 'oops' } } } }), {
    message: "invalid clouds.yaml: auth of cloud 'x' must be a mapping",
  })
  t.throws(() => resolve({ env: { OS_CLOUD: 'x' }, clouds: { clouds: { x: { auth: { username: ['a'] } } } } }), {
    message: "invalid clouds.yaml: auth.username in cloud 'x' must be a string (got a list)",
  })
})

t.test('missing settings name the flag and the variable', async (t) => {
  t.throws(() => resolve({}), {
    code: 'missing_auth_url',
    message: 'missing value auth-url required for auth plugin password; set --os-auth-url or OS_AUTH_URL',
  })
  t.throws(() => resolve({ env: { OS_AUTH_URL: 'http://k/v3', OS_PASSWORD: 'p', OS_AUTH_TYPE: 'password' } }), {
    code: 'missing_username',
    message: 'missing value username required for auth plugin password; set --os-username or OS_USERNAME (or --os-user-id or OS_USER_ID)',
  })
  t.throws(() => resolve({ env: { OS_AUTH_URL: 'http://k/v3', OS_USERNAME: 'u' } }), {
    code: 'missing_password',
    message: 'no password entered, or found via --os-password or OS_PASSWORD',
  })
  t.throws(() => resolve({ env: { OS_AUTH_TYPE: 'token', OS_AUTH_URL: 'http://k/v3' } }), {
    code: 'missing_token',
    message: 'missing value token required for auth plugin token; set --os-token or OS_TOKEN',
  })
  t.throws(() => resolve({ flags: { 'os-auth-type': 'none' } }), {
    code: 'missing_endpoint',
    message: 'missing value endpoint required for auth plugin none; set --os-endpoint or OS_ENDPOINT',
  })
  t.throws(() => resolve({ env: { OS_AUTH_TYPE: 'admin_token', OS_ENDPOINT: 'http://e:8779/' } }), {
    message: 'missing value token required for auth plugin admin_token; set --os-token or OS_TOKEN',
  })
  t.throws(() => resolve({ env: { OS_AUTH_TYPE: 'admin_token', OS_TOKEN: 'T' } }), {
    message: 'missing value endpoint required for auth plugin admin_token; set --os-endpoint or OS_ENDPOINT',
  })
})

t.test('bad urls are reported with credentials redacted; secrets never appear in messages', async (t) => {
  t.throws(() => resolve({ env: { ...PASSWORD_ENV, OS_AUTH_URL: 'ftp://bob:hunter2@k/v3' } }), {
    code: 'invalid_url',
    message: "invalid OS_AUTH_URL 'ftp://***@k/v3': expected an http or https url",
  })
  t.throws(() => resolve({ flags: { 'os-auth-type': 'none', 'os-endpoint': 'not a url' } }), {
    message: "invalid --os-endpoint 'not a url': expected an http or https url",
  })
  const clouds = { clouds: { c: { auth: { auth_url: 'http://k/v3', username: 'u', password: { nested: 'hunter2' } } } } }
  try {
    resolve({ env: { OS_CLOUD: 'c' }, clouds })
    t.fail('expected an error')
  } catch (err) {
    t.type(err, ConfigError)
    t.equal((err as Error).message, "invalid clouds.yaml: auth.password in cloud 'c' must be a string")
    t.notMatch((err as Error).message, /hunter2/)
  }
  for (const env of [
    { ...PASSWORD_ENV, OS_INTERFACE: 'bogus' },
    { ...PASSWORD_ENV, OS_AUTH_TYPE: 'bogus' },
    { ...PASSWORD_ENV, OS_INSECURE: 'bogus' },
    { OS_AUTH_URL: 'http://k/v3', OS_TOKEN: 's3cret-pw', OS_AUTH_TYPE: 'admin_token' },
  ]) {
    const err = t.throws(() => resolve({ env }), ConfigError) as Error
    t.notMatch(err.message, /s3cret-pw/)
  }
})
