// The attack suite on PostgreSQL (issue 14 item 8, docs/isolation.md "Threat model"): a tenant with root
// on its sandboxed instance gets a shell as the engine's user through COPY ... FROM PROGRAM and tries
// the other tenant's instance, the lab's secrets and the host (test/helpers/attack-flows.ts).
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { PSQL } from '../helpers/clients.js'
import { runAttack } from '../helpers/attack-flows.js'
import { sandboxLacking } from '../helpers/sandbox-host.js'

const why = sandboxLacking(['postgresql'])
if (why) t.plan(0, why)

/** SQL as the attacker's root over the lab network; stdout, or throws with the error. */
function psql(ip: string, password: string, sql: string): { code: number; out: string; err: string } {
  const r = spawnSync(PSQL, ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', ip, '-U', 'root', '-d', 'postgres'], {
    input: sql,
    encoding: 'utf8',
    env: { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: '10' },
    timeout: 300_000,
  })
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr }
}

t.test('postgresql: root, COPY ... FROM PROGRAM, and everything from that shell', (t) =>
  runAttack(t, {
    engine: 'postgresql',
    port: 5432,
    // The shell: the script base64-encoded (nothing for COPY or SQL quoting to mangle), its output and exit code back base64-encoded.
    shell: (_a, inst, password) => async (script) => {
      const b64 = Buffer.from(script).toString('base64')
      const program = `echo ${b64} | base64 -d | sh >/tmp/attack.out 2>&1; echo $?; base64 -w0 /tmp/attack.out; echo`
      const r = psql(inst.ip![0]!, password, `CREATE TEMP TABLE o (n serial, l text); COPY o (l) FROM PROGRAM '${program}'; SELECT l FROM o ORDER BY n;`)
      if (r.code !== 0) return { code: -1, out: r.err }
      const [code, out] = r.out.split('\n')
      return { code: Number(code), out: Buffer.from(out ?? '', 'base64').toString() }
    },
    engineProbes: async (t, _a, inst, password) => {
      const ip = inst.ip![0]!
      t.equal(psql(ip, password, 'SELECT rolsuper FROM pg_roles WHERE rolname = current_user;').out.trim(), 't', 'root is a superuser (as upstream gives it)')
      t.match(psql(ip, password, "SELECT pg_read_file('/etc/hostname');").err, /could not open file|No such file/, "pg_read_file sees the sandbox's root (no host /etc/hostname)")
      t.equal(psql(ip, password, "SELECT length(pg_read_file('/etc/trove-broker.json')) > 0;").out.trim(), 't', 'control: pg_read_file reads a file the sandbox has')
      t.match(psql(ip, password, "COPY (SELECT 'x') TO '/usr/lib/attack';").err, /could not open file|Read-only|Permission denied/, 'COPY TO a system directory: refused')
    },
    configuration: { work_mem: '8MB' },
    fullWrite: (inst, password) => psql(inst.ip![0]!, password, "CREATE TABLE big AS SELECT repeat('x', 1000) AS v FROM generate_series(1, 200000);").err,
    log: { name: 'guest', file: 'agent.log' },
    stableFiles: /^\/(victim\.canary|agent\.json|conf\/)/,
  }),
)
