// allowed_cidrs as the engines' own checks: CIDR parsing, pg_hba lines, MariaDB init_connect.
import t from 'tap'
import { checkAccess, formatCidr, parseCidr, restrictingCidrs } from '../../../src/agent/datastores/reconfigure.js'
import { renderPgHba } from '../../../src/agent/datastores/postgresql/config.js'
import { mariadbInitConnect, mariadbInitConnectLine } from '../../../src/agent/datastores/mariadb/access.js'

t.test('CIDRs', async (t) => {
  t.same(parseCidr('127.0.0.2/32'), { network: 0x7f000002, mask: 0xffffffff, bits: 32 })
  t.equal(formatCidr(parseCidr('10.1.2.3/8')), '10.0.0.0/8', 'host bits cleared')
  t.same(parseCidr('0.0.0.0/0'), { network: 0, mask: 0, bits: 0 })
  for (const bad of ['10.0.0.0/33', '256.0.0.1/8', '10.0.0.0', 'x']) t.throws(() => parseCidr(bad), `${bad} refused`)
  t.equal(restrictingCidrs(undefined), undefined, 'no access: anyone')
  t.equal(restrictingCidrs({ isPublic: false, allowedCidrs: [] }), undefined, 'no CIDRs: anyone')
  t.equal(restrictingCidrs({ isPublic: false, allowedCidrs: ['10.0.0.0/8', '0.0.0.0/0'] }), undefined, '0.0.0.0/0: anyone')
  t.same(checkAccess({ isPublic: true, allowedCidrs: ['10.0.0.0/8'] }), { isPublic: true, allowedCidrs: ['10.0.0.0/8'] })
  t.throws(() => checkAccess({ allowedCidrs: ['nope'] }))
  t.throws(() => checkAccess('x'))
})

t.test('pg_hba: one host line per CIDR, replication open', async (t) => {
  t.match(renderPgHba(), /^host all all all scram-sha-256$/m, 'open by default')
  const hba = renderPgHba({ isPublic: false, allowedCidrs: ['127.0.0.2/32', '10.9.8.7/16'] })
  t.match(hba, /^host all all 127\.0\.0\.2\/32 scram-sha-256\nhost all all 10\.9\.0\.0\/16 scram-sha-256$/m)
  t.notMatch(hba, /^host all all all /m, 'no catch-all line')
  t.match(hba, /^host replication all all scram-sha-256$/m)
  t.match(hba, /^host postgres replicator all scram-sha-256$/m, "a member's pg_rewind and settings read (the replication role only)")
  t.match(hba, /^local all postgres trust$/m, 'the agent keeps its socket')
})

t.test('MariaDB init_connect', async (t) => {
  t.equal(mariadbInitConnect(undefined), undefined)
  t.equal(mariadbInitConnectLine({ isPublic: false, allowedCidrs: [] }), '')
  const sql = mariadbInitConnect({ isPublic: false, allowedCidrs: ['127.0.0.2/32'] })!
  t.match(
    sql,
    /^IF NOT \(SUBSTRING_INDEX\(USER\(\),'@',-1\) = 'localhost' OR SUBSTRING_INDEX\(CURRENT_USER\(\),'@',1\) REGEXP '\^slave_\[0-9a-f\]\{8\}\$' OR \(INET_ATON\(SUBSTRING_INDEX\(USER\(\),'@',-1\)\) & 4294967295\) = 2130706434\) THEN SIGNAL SQLSTATE '42000'/,
  )
  t.notMatch(mariadbInitConnectLine({ isPublic: false, allowedCidrs: ['10.0.0.0/8'] }).slice('init_connect="'.length, -2), /["\\]/, 'nothing to escape inside the double quotes')
})
