// Several replicas in one create, through the real CLI against a real lab (Redis engines):
// `--replica-of SRC --replica-count N --wait` waits for and prints all N; and a source, its three
// replicas at the largest volume size, backups and a few restores fit in the lab's default quota.
import t from 'tap'
import { join } from 'node:path'
import { killEverythingUnder, runCli, startServerProcess, tempDir } from '../helpers/lab.js'

interface Shown {
  id: string
  name: string
  status: string
  replica_of?: string
  volume?: number
}

t.test('instance create --replica-count 3 --wait: all three replicas, ACTIVE, printed; all of it within the default quota', async (t) => {
  const dir = tempDir(t, 'trc')
  const dataDir = join(dir, 'lab')
  const server = await startServerProcess(t, dataDir)
  t.teardown(() => killEverythingUnder(dataDir))
  const cli = (...args: string[]) => runCli(args, server.env, 600_000)
  const ok = async (...args: string[]) => {
    const r = await cli(...args)
    t.equal(r.code, 0, `trove ${args.slice(0, 3).join(' ')} (${r.stderr.trim().split('\n').pop()})`)
    return r
  }

  // The largest volume a lab accepts (10 GB), on every instance: upstream's 40 GB quota would be full after the replicas.
  const src = JSON.parse((await ok('instance', 'create', 'rc', '--flavor', 'm1.tiny', '--size', '10', '--datastore', 'redis', '--wait', '--timeout', '300', '-f', 'json')).stdout) as Shown

  const made = await ok('instance', 'create', 'rc-rep', '--replica-of', 'rc', '--replica-count', '3', '--wait', '--timeout', '300', '-f', 'json')
  const replicas = JSON.parse(made.stdout) as Shown[]
  t.ok(Array.isArray(replicas), '-f json prints one list')
  t.same(
    replicas.map((r) => r.name),
    ['rc-rep-1', 'rc-rep-2', 'rc-rep-3'],
    'every replica, in name order',
  )
  t.same(
    replicas.map((r) => [r.status, r.replica_of, r.volume]),
    replicas.map(() => ['ACTIVE', src.id, 10]),
    'each one ACTIVE (waited for), a replica of the source, with its volume',
  )
  const shown = JSON.parse((await ok('instance', 'show', 'rc', '-f', 'json')).stdout) as { replicas: string }
  t.same(shown.replicas.split(', ').sort(), replicas.map((r) => r.id).sort(), 'the source lists exactly those three')

  // Backups and restores on top: still within the default quota.
  await ok('backup', 'create', 'rc-full1', '--instance', 'rc', '--wait', '--timeout', '300')
  await ok('backup', 'create', 'rc-full2', '--instance', 'rc', '--wait', '--timeout', '300')
  const restores = await Promise.all(
    ['rc-copy1', 'rc-copy2', 'rc-copy3'].map((name, i) =>
      cli('instance', 'create', name, '--flavor', 'm1.tiny', '--size', '10', '--backup', i === 0 ? 'rc-full1' : 'rc-full2', '--wait', '--timeout', '300', '-f', 'json'),
    ),
  )
  for (const r of restores) t.equal(r.code, 0, `a restore fits in the quota (${r.stderr.trim().split('\n').pop()})`)
  const limits = await ok('limit', 'list')
  t.match(limits.stdout, /\| max_instances \| 20 +\|/, 'default quota: 20 instances')
  t.match(limits.stdout, /\| max_volumes +\| 200 +\|/, 'default quota: 200 GB of volumes')
  t.match(limits.stdout, /\| max_backups +\| 100 +\|/, 'default quota: 100 backups')
})
