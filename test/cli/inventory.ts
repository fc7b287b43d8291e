import t from 'tap'
import { runMain } from '../helpers/lab.js'
import { COMMAND_INVENTORY } from '../helpers/command-inventory.js'

/**
 * Issue 5: `trove <path> --help` works for every command of the upstream inventory (the 80
 * `openstack database ...` / `openstack datastore ...` commands, named without the
 * `openstack database` / `openstack` prefix) and for every legacy `trove` name listed there.
 * The table lives in test/helpers/command-inventory.ts, so a command it names and we lack fails here.
 */
const rows = COMMAND_INVENTORY

const env = { PATH: process.env.PATH, HOME: process.env.HOME }

t.test('every openstack command of the inventory has a trove command with --help', async (t) => {
  t.equal(rows.length, 80, 'the inventory lists 80 commands')
  const paths = rows.map((r) => r.openstack.replace(/^database /, '').split(' '))
  const results = await Promise.all(paths.map((p) => runMain([...p, '--help'], env)))
  paths.forEach((p, i) => {
    const r = results[i]!
    t.equal(r.code, 0, `trove ${p.join(' ')} --help exits 0${r.code ? `: ${r.stderr.trim()}` : ''}`)
    t.match(r.stdout, new RegExp(`^Usage: trove ${p.join(' ')}\\b`, 'm'), `trove ${p.join(' ')} --help prints its usage`)
  })
})

t.test('every legacy name of the inventory answers --help', async (t) => {
  const names = rows.flatMap((r) => r.legacy)
  t.ok(names.length >= 70, `${names.length} legacy names`)
  const results = await Promise.all(names.map((n) => runMain([n, '--help'], env)))
  names.forEach((n, i) => {
    const r = results[i]!
    t.equal(r.code, 0, `trove ${n} --help exits 0${r.code ? `: ${r.stderr.trim()}` : ''}`)
    t.match(r.stdout, /Usage: trove /, `trove ${n} --help prints a usage`)
  })
})
