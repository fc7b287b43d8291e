import t, { type Test } from 'tap'
import { apiLab, missingFields, type ApiLab } from '../../helpers/api.js'
import { sample } from '../../helpers/lab.js'
import { scriptedAgent, until, type ScriptedHandler } from '../../helpers/scripted-agent.js'
import type { RpcRequest } from '../../../src/protocol/index.js'

interface User {
  name: string
  host: string
  password: string
  databases: Array<{ name: string }>
}

/** A guest with databases and users in memory, paging like the real one. */
function fakeGuest() {
  const dbs = new Set<string>(['appdb'])
  const users: User[] = []
  let root = false
  const page = <T>(items: T[], key: (x: T) => string, a: Record<string, unknown>): [T[], string | null] => {
    const sorted = [...items].sort((x, y) => (key(x) < key(y) ? -1 : 1))
    const m = a.marker as string | undefined
    const from = m ? sorted.filter((x) => (a.include_marker ? key(x) >= m : key(x) > m)) : sorted
    const n = (a.limit as number) || from.length
    return [from.slice(0, n), from.length > n ? key(from[n - 1]!) : null]
  }
  const find = (a: Record<string, unknown>) => users.find((u) => u.name === a.username && u.host === a.hostname)
  const view = (u: User) => ({ name: u.name, host: u.host, databases: u.databases })
  const h: Record<string, ScriptedHandler> = {
    list_databases: (r: RpcRequest) =>
      page(
        [...dbs].map((name) => ({ name })),
        (d) => d.name,
        r.args,
      ),
    create_database: (r) => {
      for (const d of r.args.databases as Array<{ name: string }>) dbs.add(d.name)
      return null
    },
    delete_database: (r) => {
      dbs.delete((r.args.database as { name: string }).name)
      return null
    },
    list_users: (r) => page(users.map(view), (u) => `${u.name}@${u.host}`, r.args),
    get_user: (r) => {
      const u = find(r.args)
      return u ? view(u) : null
    },
    create_user: (r) => {
      for (const u of r.args.users as User[]) users.push({ ...u })
      return null
    },
    delete_user: (r) => {
      const x = r.args.user as { name: string; host: string }
      users.splice(
        users.findIndex((u) => u.name === x.name && u.host === x.host),
        1,
      )
      return null
    },
    change_passwords: (r) => {
      for (const x of r.args.users as User[]) users.find((u) => u.name === x.name)!.password = x.password
      return null
    },
    update_attributes: (r) => {
      const u = find(r.args)!
      Object.assign(u, r.args.user_attrs)
      return null
    },
    list_access: (r) => find(r.args)!.databases,
    grant_access: (r) => {
      const u = find(r.args)!
      for (const d of r.args.databases as string[]) if (!u.databases.some((x) => x.name === d)) u.databases.push({ name: d })
      return null
    },
    revoke_access: (r) => {
      const u = find(r.args)!
      u.databases = u.databases.filter((d) => d.name !== r.args.database)
      return null
    },
    enable_root: () => {
      root = true
      return { name: 'root', password: 'G'.repeat(36) }
    },
    enable_root_with_password: (r) => {
      root = true
      return { name: 'root', password: r.args.root_password }
    },
    disable_root: () => {
      root = false
      return null
    },
    is_root_enabled: () => root,
  }
  return { h, dbs, users }
}

async function activeInstance(t: Test, lab: ApiLab, datastore: string, handlers: Record<string, ScriptedHandler>, token?: string, project?: string) {
  const p = `/v1.0/${project ?? lab.demo.project}`
  const created = await lab.req('POST', `${p}/instances`, { body: { instance: { name: `i-${datastore}`, flavorRef: '1', volume: { size: 1 }, datastore: { type: datastore } } }, token })
  const id = created.body.instance.id as string
  const agent = await scriptedAgent(lab.dataDir, id, handlers)
  t.teardown(() => agent.close())
  await agent.heartbeat('HEALTHY')
  await until(async () => (await lab.req('GET', `${p}/instances/${id}`, { token })).body.instance.status === 'ACTIVE', 5000, 'ACTIVE')
  return { id, agent, base: `${p}/instances/${id}` }
}

t.test('databases: list, create (sample), paging, errors, show 501, delete', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const g = fakeGuest()
  const { base } = await activeInstance(t, lab, 'mariadb', g.h)
  t.same((await lab.req('GET', `${base}/databases`)).body, { databases: [{ name: 'appdb' }] })
  const c = await lab.req('POST', `${base}/databases`, { body: sample('databases-create-request.json') })
  t.equal(c.status, 202)
  t.equal(c.body, undefined, 'empty body')
  const list = await lab.req('GET', `${base}/databases`)
  t.same(missingFields(list.body, sample('databases-list-response.json')), [])
  t.same(
    list.body.databases.map((d: { name: string }) => d.name),
    ['appdb', 'databaseA', 'databaseB', 'databaseC'],
  )
  const p1 = await lab.req('GET', `${base}/databases?limit=2`)
  t.same(p1.body.databases, [{ name: 'appdb' }, { name: 'databaseA' }])
  t.match(p1.body.links, [{ rel: 'next', href: /^https:\/\/.*\/databases\?limit=2&marker=databaseA$/ }])
  const p2 = await lab.req('GET', `${base}/databases?limit=2&marker=databaseA`)
  t.same(p2.body, { databases: [{ name: 'databaseB' }, { name: 'databaseC' }] }, 'last page: no links')

  t.same(
    (await lab.req('POST', `${base}/databases`, { body: { databases: [{ name: 'bad name!' }] } })).body,
    { badRequest: { code: 400, message: "'bad name!' is not a valid schema name." } },
    'transcript 47',
  )
  t.same((await lab.req('POST', `${base}/databases`, { body: { databases: [{ name: 'appdb' }] } })).body, { badRequest: { code: 400, message: 'A database with the name "appdb" already exists.' } })
  t.same((await lab.req('POST', `${base}/databases`, { body: { databases: [{ name: 'mysql' }] } })).body, { badRequest: { code: 400, message: "'mysql' is a reserved database name." } })
  t.equal((await lab.req('POST', `${base}/databases`, { body: { databases: [{ name: 'x1' }, { name: 'x1' }] } })).status, 400, 'duplicates')
  t.match((await lab.req('POST', `${base}/databases`, { body: { nope: [] } })).body, { badRequest: { message: "Validation error: 'databases' is a required property" } })
  t.equal((await lab.req('GET', `${base}/databases/appdb`)).status, 501, 'GET databases/{name} is 501 (upstream)')
  t.equal((await lab.req('DELETE', `${base}/databases/databaseC`)).status, 202)
  t.notOk(g.dbs.has('databaseC'))
})

t.test('users: create (sample), list/show (samples), passwords, attributes, access, delete', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const g = fakeGuest()
  const { base } = await activeInstance(t, lab, 'mariadb', g.h)
  await lab.req('POST', `${base}/databases`, { body: sample('databases-create-request.json') })
  const c = await lab.req('POST', `${base}/users`, { body: sample('user-create-request.json') })
  t.equal(c.status, 202)
  const list = await lab.req('GET', `${base}/users`)
  t.same(missingFields(list.body, sample('user-list-response.json')), [])
  t.same(
    list.body.users.map((u: { name: string }) => u.name),
    ['dbuser1', 'dbuser2', 'dbuser3'],
  )
  const paged = await lab.req('GET', `${base}/users?limit=1`)
  t.match(paged.body.links, [{ rel: 'next', href: /marker=dbuser1%2540%2525$/ }], 'marker is name@host, encoded twice as upstream does')
  // What troveclient sends back: the link's marker decoded once, not encoded again.
  const page2 = await lab.req('GET', `${base}/users?limit=1&marker=${new URL(paged.body.links[0].href).searchParams.get('marker')}`)
  t.same(
    page2.body.users.map((u: { name: string }) => u.name),
    ['dbuser2'],
    'the next page follows the marker',
  )
  const show = await lab.req('GET', `${base}/users/dbuser1`)
  t.same(show.body, { user: { name: 'dbuser1', host: '%', databases: [{ name: 'databaseA' }] } })
  t.same(missingFields(show.body, sample('user-show-response.json')), [])
  t.equal((await lab.req('GET', `${base}/users/dbuser1%40%25`)).status, 200, 'name@host in the path')
  t.same((await lab.req('GET', `${base}/users/nobody`)).body, { itemNotFound: { code: 404, message: 'User nobody cannot be found on the instance.' } })
  t.equal((await lab.req('GET', `${base}/users/root`)).status, 404, 'hidden users are not found')
  t.same((await lab.req('POST', `${base}/users`, { body: { users: [{ name: 'dbuser1', password: 'x' }] } })).body, {
    badRequest: { code: 400, message: 'A user with the name "dbuser1" already exists.' },
  })
  t.equal((await lab.req('POST', `${base}/users`, { body: { users: [{ name: 'root', password: 'x' }] } })).status, 400, 'reserved')
  for (const name of ['trove_archiver', 'trove_pitr'])
    t.same(
      (await lab.req('POST', `${base}/users`, { body: { users: [{ name, password: 'x' }] } })).body,
      { badRequest: { code: 400, message: `'${name}' is a reserved user name.` } },
      `${name}: the agent's account`,
    )
  t.match((await lab.req('POST', `${base}/users`, { body: { users: [{ name: 'h', password: 'x', host: 'a b' }] } })).body, {
    badRequest: { message: /^Validation error: users\[0\]\['host'\] 'a b' does not match/ },
  })

  t.equal((await lab.req('PUT', `${base}/users`, { body: sample('users-put-request.json') })).status, 404, 'users-put sample: new_name@192.168.30.98 does not exist')
  t.equal((await lab.req('PUT', `${base}/users`, { body: { users: [{ name: 'dbuser3', password: 'pw2' }] } })).status, 202)
  t.equal(g.users.find((u) => u.name === 'dbuser3')!.password, 'pw2')
  t.equal((await lab.req('PUT', `${base}/users/dbuser3`, { body: sample('user-put-request.json') })).status, 202)
  t.same((await lab.req('GET', `${base}/users/new_name@192.168.30.98`)).body.user, { name: 'new_name', host: '192.168.30.98', databases: [] })
  t.equal((await lab.req('PUT', `${base}/users/dbuser2`, { body: { user: { name: 'dbuser1' } } })).status, 400, 'rename onto an existing user')
  t.match((await lab.req('PUT', `${base}/users/dbuser2`, { body: { user: {} } })).body, { badRequest: { message: /^Validation error: user/ } })

  t.equal((await lab.req('PUT', `${base}/users/dbuser1/databases`, { body: sample('user-grant-databases-access-request.json') })).status, 202, 'grant (sample)')
  t.same((await lab.req('GET', `${base}/users/dbuser1/databases`)).body, { databases: [{ name: 'databaseA' }, { name: 'test' }] })
  t.equal((await lab.req('DELETE', `${base}/users/dbuser1/databases/test`)).status, 202, 'revoke')
  t.same((await lab.req('DELETE', `${base}/users/dbuser1/databases/test`)).body, { itemNotFound: { code: 404, message: 'Database test cannot be found on the instance.' } })
  t.equal((await lab.req('DELETE', `${base}/users/dbuser2`)).status, 202)
  t.same(
    (await lab.req('GET', `${base}/users`)).body.users.map((u: { name: string }) => u.name),
    ['dbuser1', 'new_name'],
  )
})

t.test('root: show from the history, enable (generated or given), disable', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const g = fakeGuest()
  const { base } = await activeInstance(t, lab, 'postgresql', g.h)
  t.same((await lab.req('GET', `${base}/root`)).body, { rootEnabled: false })
  t.same((await lab.req('DELETE', `${base}/root`)).body, { itemNotFound: { code: 404, message: 'Root user has never been enabled on the instance.' } })
  const e = await lab.req('POST', `${base}/root`)
  t.equal(e.status, 200)
  t.same(e.body, { user: { name: 'root', password: 'G'.repeat(36) } })
  t.same(missingFields(e.body, sample('user-enable-root-response.json')), [])
  t.same((await lab.req('GET', `${base}/root`)).body, sample('user-check-root-response.json'))
  const given = await lab.req('POST', `${base}/root`, { body: sample('user-root-enable-request.json') })
  t.same(given.body, { user: { name: 'root', password: 'r00t-Passw0rd-Of-Our-Own' } })
  const d = await lab.req('DELETE', `${base}/root`)
  t.equal(d.status, 204)
  t.equal(d.body, undefined)
  t.same((await lab.req('GET', `${base}/root`)).body, { rootEnabled: false })
  t.equal((await lab.req('DELETE', `${base}/root/delete`)).status, 204, 'alias; disabling again is fine once it was ever enabled')
})

t.test('errors: not ours 404, not ready 422, redis 422 for users but root works, guest failures 400', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const g = fakeGuest()
  const other = await activeInstance(t, lab, 'mariadb', g.h, lab.admin.token, lab.admin.project)
  const id = other.base.split('/').pop()!
  for (const path of ['databases', 'users', 'users/x', 'root']) {
    t.same(
      (await lab.req('GET', `/v1.0/${lab.demo.project}/instances/${id}/${path}`)).body,
      { itemNotFound: { code: 404, message: `Resource ${id} cannot be found.` } },
      `another project's instance: ${path}`,
    )
  }
  const p = `/v1.0/${lab.demo.project}`
  const building = (await lab.req('POST', `${p}/instances`, { body: { instance: { name: 'b', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'mariadb' } } } })).body.instance.id
  t.same((await lab.req('GET', `${p}/instances/${building}/databases`)).body, { unprocessableEntity: { code: 422, message: `Instance ${building} is not ready, status: BUILD.` } })

  const redis = await activeInstance(t, lab, 'redis', g.h)
  t.same((await lab.req('GET', `${redis.base}/users`)).body, { unprocessableEntity: { code: 422, message: 'Operation not supported for datastore redis.' } })
  t.equal((await lab.req('POST', `${redis.base}/root`)).status, 200, 'redis has a root controller')

  const failing = await activeInstance(t, lab, 'postgresql', {
    list_databases: () => {
      throw new Error('psql: could not connect')
    },
  })
  t.same((await lab.req('GET', `${failing.base}/databases`)).body, { badRequest: { code: 400, message: 'An error occurred communicating with the guest: psql: could not connect.' } })

  t.match(
    (await lab.req('POST', `${p}/instances`, { body: { instance: { name: 'c', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'mariadb' }, databases: [{ name: 'bad name!' }] } } })).body,
    { badRequest: { message: "'bad name!' is not a valid schema name." } },
    'create checks the names too',
  )
})

t.test('attacks: MariaDB database and user names with a tab or another control character are refused, nothing created', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const g = fakeGuest()
  const { base } = await activeInstance(t, lab, 'mariadb', g.h)
  const before = { dbs: [...g.dbs], users: g.users.map((u) => u.name) }
  for (const bad of ['my\tdb', 'my\ndb', 'my\rdb', 'my\u0085db', 'tab\t']) {
    const label = JSON.stringify(bad)
    // A newline or CR already fails upstream's schema (its `.` stops at a line break).
    t.match(
      (await lab.req('POST', `${base}/databases`, { body: { databases: [{ name: bad }] } })).body,
      { badRequest: { code: 400, message: /^'.*' is not a valid schema name\.$|^Validation error: databases\[0\]\['name'\]/s } },
      `database ${label}`,
    )
    t.equal((await lab.req('POST', `${base}/users`, { body: { users: [{ name: 'u1', password: 'pw-1', databases: [{ name: bad }] }] } })).status, 400, `a user granted database ${label}`)
    t.equal((await lab.req('PUT', `${base}/users/dbuser1/databases`, { body: { databases: [{ name: bad }] } })).status, 404, `grant of ${label} to a missing user`)
  }
  for (const bad of ['us\ter', 'us\u0085er', 'us\u007fer', 'us\u0000er']) {
    t.same(
      (await lab.req('POST', `${base}/users`, { body: { users: [{ name: bad, password: 'pw-1' }] } })).body,
      { badRequest: { code: 400, message: `'${bad}' is not a valid user name.` } },
      `user ${JSON.stringify(bad)}`,
    )
  }
  t.same({ dbs: [...g.dbs], users: g.users.map((u) => u.name) }, before, 'nothing was created')
  const created = await lab.req('POST', `/v1.0/${lab.demo.project}/instances`, {
    body: { instance: { name: 'tabbed', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'mariadb' }, databases: [{ name: 'a\tb' }] } },
  })
  t.same(created.body, { badRequest: { code: 400, message: "'a\tb' is not a valid schema name." } }, 'an instance create with a tabbed database')
})
