// The attack suite on MariaDB (issue 14 item 8, docs/isolation.md "Threat model"): a tenant with root on
// its sandboxed instance tries what MariaDB's root can do to files and the network (INTO OUTFILE,
// LOAD DATA INFILE, LOAD_FILE(), log files moved by SET GLOBAL, a FEDERATED table to the other tenant's
// instance), then, from a shell as the engine's user (the threat model's premise: MariaDB itself has no
// statement for one), everything else (test/helpers/attack-flows.ts).
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { runAttack } from '../helpers/attack-flows.js'
import { sandboxShell, VOL } from '../helpers/attack.js'
import { sandboxLacking } from '../helpers/sandbox-host.js'

const why = sandboxLacking(['mariadb'])
if (why) t.plan(0, why)

/** SQL as the attacker's root over the lab network: stdout, stderr and the exit code. */
function sql(ip: string, password: string, statement: string): { code: number; out: string; err: string } {
  const r = spawnSync('mariadb', ['--no-defaults', '-h', ip, '-u', 'root', '-N', '-B', 'd1'], { input: statement, encoding: 'utf8', env: { ...process.env, MYSQL_PWD: password }, timeout: 300_000 })
  return { code: r.status ?? -1, out: r.stdout.trim(), err: r.stderr.trim() }
}

t.test('mariadb: root, its file statements, and everything from a shell as its user', (t) =>
  runAttack(t, {
    engine: 'mariadb',
    port: 3306,
    shell: (a, inst) => sandboxShell(a.c, inst.id),
    engineProbes: async (t, a, inst, password, victim) => {
      const ip = inst.ip![0]!
      const files = sql(ip, password, 'SELECT @@secure_file_priv;').out
      t.equal(files, `${VOL}/files/`, "secure_file_priv is the instance's files directory")
      t.equal(
        sql(ip, password, `SELECT 'mine' INTO OUTFILE '${files}mine.txt'; SELECT TRIM(TRAILING '\\n' FROM LOAD_FILE('${files}mine.txt'));`).out,
        'mine',
        'control: INTO OUTFILE and LOAD_FILE() in that directory work',
      )
      for (const path of [a.canary.path, '/etc/passwd', `${VOL}/agent.json`, `${a.c.instanceDir(victim.id)}/mnt/victim.canary`])
        t.equal(sql(ip, password, `SELECT LOAD_FILE('${path}') IS NULL;`).out, '1', `LOAD_FILE('${path}'): NULL`)
      for (const path of [`${VOL}/conf/attack.cnf`, '/tmp/attack', a.canary.path])
        t.match(sql(ip, password, `SELECT 'x' INTO OUTFILE '${path}';`).err, /secure-file-priv/, `INTO OUTFILE ${path}: refused`)
      t.match(sql(ip, password, `CREATE TABLE ld (l text); LOAD DATA INFILE '${a.canary.path}' INTO TABLE ld;`).err, /secure-file-priv/, 'LOAD DATA INFILE of a host file: refused')
      // SET GLOBAL moves a log where the engine's user may write: inside the sandbox that is its own volume only.
      // Where the path exists inside (the sandbox's own /tmp has the lab's path: the agent made its backup directory's
      // name there), the log lands in the sandbox's tmpfs, not on the host.
      const moved = sql(ip, password, `SET GLOBAL general_log_file = '${a.canary.path}'; SET GLOBAL general_log = ON; SELECT 'attack-general-log'; SET GLOBAL general_log = OFF;`)
      t.comment(`general_log_file on the host canary's path: ${moved.code === 0 ? 'accepted' : moved.err}`)
      t.equal(readFileSync(a.canary.path, 'utf8'), `${a.canary.secret}\n`, "the host's canary is unchanged")
      if (moved.code === 0) t.match((await sandboxShell(a.c, inst.id)(`cat ${a.canary.path}`)).out, /attack-general-log/, "control: the log was written, inside the sandbox's own /tmp")
      // A FEDERATED table is a client of another server: the other tenant's instance is not reachable.
      const fed = sql(ip, password, "INSTALL SONAME 'ha_federatedx';")
      t.comment(`INSTALL SONAME ha_federatedx: ${fed.code === 0 ? 'installed' : fed.err}`)
      if (fed.code === 0) {
        t.equal(
          sql(ip, password, `CREATE TABLE own_t (v int); CREATE TABLE own (v int) ENGINE=FEDERATED CONNECTION='mysql://u1:Pw-one-1@${ip}:3306/d1/own_t'; SELECT count(*) FROM own;`).out,
          '0',
          'control: a FEDERATED table to its own address answers',
        )
        t.match(
          sql(ip, password, `CREATE TABLE fed (v int) ENGINE=FEDERATED CONNECTION='mysql://u1:Pw-one-1@${victim.ip![0]}:3306/d1/t'; SELECT count(*) FROM fed;`).err,
          /Unable to connect|Can't connect|connect to foreign|Foreign data src error/i,
          "a FEDERATED table to the other tenant's instance cannot connect",
        )
      }
    },
    configuration: { max_connections: 120 },
    fullWrite: (inst, password) => sql(inst.ip![0]!, password, 'CREATE TABLE big (v text) ENGINE=InnoDB; INSERT INTO big SELECT repeat("x", 1000) FROM seq_1_to_2000000;').err,
    log: { name: 'guest', file: 'agent.log' },
    stableFiles: /^\/(victim\.canary|agent\.json|conf\/)/,
  }),
)
