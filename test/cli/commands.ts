import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runMain, startLab, labEnv } from '../helpers/lab.js'

t.test('commands against a lab: output, errors and exit codes', async (t) => {
  const lab = await startLab(t)
  const env = lab.env

  const flavors = await runMain(['flavor', 'list', '-f', 'json'], env)
  t.equal(flavors.code, 0)
  const rows = JSON.parse(flavors.stdout)
  t.same(Object.keys(rows[0]), ['ID', 'Name', 'RAM', 'vCPUs', 'Disk', 'Ephemeral'], 'openstack column names')
  t.same(rows[0], { ID: 1, Name: 'm1.tiny', RAM: 512, vCPUs: 1, Disk: 5, Ephemeral: 0 })

  const table = await runMain(['flavor', 'show', 'm1.small'], env)
  t.equal(
    table.stdout,
    [
      '+-----------+----------+',
      '| Field     | Value    |',
      '+-----------+----------+',
      '| disk      | 10       |',
      '| ephemeral | 0        |',
      '| id        | 2        |',
      '| name      | m1.small |',
      '| ram       | 1024     |',
      '| vcpus     | 1        |',
      '+-----------+----------+',
      '',
    ].join('\n'),
    'flavor show by name, fields sorted, PrettyTable layout',
  )

  const value = await runMain(['datastore', 'show', 'postgresql', '-f', 'value', '-c', 'name'], env)
  t.equal(value.stdout, 'postgresql\n')
  const versions = await runMain(['datastore', 'version', 'list', 'postgresql', '-f', 'csv'], env)
  t.match(versions.stdout, /^"ID","Name","Version"\n"[0-9a-f-]{36}","\d+","\d+\.\d+"\n$/)
  const byName = await runMain(['datastore', 'version', 'show', '15'], env)
  t.equal(byName.code, 1)
  t.equal(byName.stderr, 'The datastore name or id is required to retrieve a datastore version by name.\n')
  t.equal((await runMain(['datastore', 'version', 'show', '15', '--datastore', 'postgresql', '-f', 'yaml'], env)).stdout.includes("name: '15'"), true)

  const empty = await runMain(['instance', 'list'], env)
  t.equal(empty.code, 0)
  t.equal(empty.stdout, '\n', 'an empty list prints just a newline, like cliff')

  const noFlavor = await runMain(['instance', 'create', 'x', '--size', '1', '--datastore', 'postgresql'], env)
  t.same([noFlavor.code, noFlavor.stderr], [1, 'Please specify a flavor\n'])
  const badFlavor = await runMain(['instance', 'create', 'x', '--flavor', 'nope', '--size', '1', '--datastore', 'postgresql'], env)
  t.same([badFlavor.code, badFlavor.stderr], [1, "No flavor with a name or ID of 'nope' exists.\n"])
  const zero = await runMain(['instance', 'create', 'x', '--flavor', '1', '--size', '0', '--datastore', 'postgresql'], env)
  t.same([zero.code, zero.stderr], [1, "Volume size '0' must be an integer and greater than 0.\n"])
  const notInt = await runMain(['instance', 'create', 'x', '--flavor', '1', '--size', 'ten'], env)
  t.equal(notInt.code, 2, 'a non-integer --size is a usage error')
  const ds = await runMain(['instance', 'create', 'x', '--flavor', '1', '--size', '1', '--datastore', 'nosql'], env)
  t.equal(ds.code, 1)
  t.match(ds.stderr, /^Datastore 'nosql' cannot be found\. \(HTTP 404\) \(Request-ID: req-[0-9a-f-]+\)\n$/, 'server fault, one line, with the request id')
  const ver = await runMain(['instance', 'create', 'x', '--flavor', '1', '--size', '1', '--datastore', 'postgresql', '--datastore-version', '9.9'], env)
  t.match(ver.stderr, /^Datastore version '9\.9' cannot be found\. \(HTTP 400\)/)
  const long = await runMain(['instance', 'create', 'n'.repeat(256), '--flavor', '1', '--size', '1', '--datastore', 'postgresql'], env)
  t.match(long.stderr, /^Validation error: instance\['name'\] 'n+' is too long \(HTTP 400\)/)
  const big = await runMain(['instance', 'create', 'x', '--flavor', '1', '--size', '500', '--datastore', 'postgresql'], env)
  t.match(big.stderr, /cannot exceed maximum of 10 GB, 500 cannot be accepted\. \(HTTP 413\)/)
  t.same(JSON.parse((await runMain(['instance', 'list', '-f', 'json'], env)).stdout), [], 'nothing was created by the failures')

  const missing = await runMain(['instance', 'show', 'ghost'], env)
  t.same([missing.code, missing.stderr], [1, "No instance with a name or ID of 'ghost' exists.\n"])
  const delMissing = await runMain(['instance', 'delete', 'ghost'], env)
  t.same([delMissing.code, delMissing.stderr], [1, 'Failed to get database instance ghost, error: 404 (HTTP 404)\n'])

  const unknownCmd = await runMain(['instance', 'frobnicate'], env)
  t.equal(unknownCmd.code, 2, 'unknown command: usage error')
  const badFormat = await runMain(['flavor', 'list', '-f', 'xml'], env)
  t.equal(badFormat.code, 2)
  const badColumn = await runMain(['flavor', 'list', '-c', 'Nope'], env)
  t.equal(badColumn.code, 1)
  t.match(badColumn.stderr, /^No recognized column names in \['Nope'\]/)

  const help = await runMain(['instance', 'create', '--help'], env)
  t.equal(help.code, 0)
  t.match(help.stdout, /--flavor <flavor>/)
  t.match(help.stdout, /--wait/)
})

t.test('authentication and connection failures are one line with a hint', async (t) => {
  const lab = await startLab(t)
  const clouds = join(lab.dataDir, 'bad-clouds.yaml')
  writeFileSync(clouds, `clouds:\n  bad:\n    auth:\n      auth_url: ${lab.url}/identity/v3\n      username: demo\n      password: wrong\n      project_name: demo\n`)
  const denied = await runMain(['flavor', 'list'], { ...labEnv(clouds, 'bad') })
  t.equal(denied.code, 4, 'exit 4: authentication')
  t.equal(denied.stderr.split('\n')[0], 'The request you have made requires authentication. (HTTP 401)')
  t.match(denied.stderr, /^Try: .*OS_CLOUD/m)
  t.notMatch(denied.stderr, /wrong/, 'the password is not echoed')

  const noCloud = await runMain(['flavor', 'list'], { ...lab.env, OS_CLOUD: 'nope' })
  t.equal(noCloud.code, 4)
  t.match(noCloud.stderr, /nope/)

  const refused = await runMain(['flavor', 'list'], { PATH: '/usr/bin', OS_AUTH_URL: 'http://127.0.0.1:9/identity/v3', OS_USERNAME: 'demo', OS_PASSWORD: 'x', OS_PROJECT_NAME: 'demo' })
  t.equal(refused.code, 1)
  t.match(refused.stderr, /^Unable to establish connection to http:\/\/127\.0\.0\.1:9\/identity\/v3/)
  t.match(refused.stderr, /^Try: .*trove server/m)
  t.notMatch(refused.stderr, /at .*\.js:\d+/, 'no stack trace without --debug')
})
