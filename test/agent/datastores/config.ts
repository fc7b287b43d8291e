// Config rendering from the flavor (upstream templates' formulas) for each engine.
import t from 'tap'
import { createHash } from 'node:crypto'
import { renderMariadbCnf, renderMariadbTemplateCnf } from '../../../src/agent/datastores/mariadb/config.js'
import { renderPgHba, renderPostgresConf } from '../../../src/agent/datastores/postgresql/config.js'
import { renderRedisAcl, renderRedisConf } from '../../../src/agent/datastores/redis/config.js'
import { mariadbMemory, postgresMemory, redisMaxmemoryMb } from '../../../src/common/engines/index.js'
import { instancePaths } from '../../../src/agent/preparation.js'

const paths = instancePaths('/i/abc')

t.test('MariaDB: R = RAM/512, values truncated', async (t) => {
  t.same(mariadbMemory(512), {
    keyBufferMb: 50,
    maxAllowedPacketKb: 1024,
    threadCacheSize: 4,
    innodbBufferPoolMb: 150,
    tmpTableMb: 16,
    tableOpenCache: 256,
    tableDefinitionCache: 400,
    openFilesLimit: 512,
    maxConnections: 100,
    queryCacheMb: 8,
  })
  const m = mariadbMemory(2048)
  t.same([m.innodbBufferPoolMb, m.maxConnections, m.tableDefinitionCache, m.keyBufferMb], [600, 400, 1024, 200])
  const small = mariadbMemory(200) // R = 0.39
  t.same([small.innodbBufferPoolMb, small.maxConnections, small.threadCacheSize, small.tmpTableMb], [58, 39, 1, 6])
  t.equal(mariadbMemory(10).innodbBufferPoolMb, 5, 'buffer pool floor 5M')
})

t.test('MariaDB my.cnf', async (t) => {
  const cnf = renderMariadbCnf({ paths, address: '127.0.0.7', port: 3306, runUser: 'troveguest', serverId: 42, ramMb: 1024 })
  for (const line of [
    'user=troveguest',
    'datadir=/i/abc/data',
    'tmpdir=/i/abc/tmp',
    'bind-address=127.0.0.7',
    'socket=/i/abc/run/mysqld.sock',
    'pid-file=/i/abc/run/mysqld.pid',
    'log-error=/i/abc/log/error.log',
    'server-id=42',
    'innodb_buffer_pool_size=300M',
    'max_connections=200',
    'log-bin=/i/abc/data/mysql-bin',
    // Bare: mariadb-install-db reads [mysqld] too and refuses skip-name-resolve=1.
    'skip-name-resolve',
  ])
    t.ok(cnf.split('\n').includes(line), line)
  t.match(cnf, /^\[client\]\nport=3306\nsocket=\/i\/abc\/run\/mysqld.sock$/m)
  t.match(cnf, /^\[mariadb-backup\]$/m)
  const template = renderMariadbTemplateCnf({ dataDir: '/t/d', runUser: 'troveguest' })
  t.same(template.split('\n').slice(-4), ['skip-name-resolve', 'innodb_page_size=16k', 'innodb_log_file_size=50M', ''], 'the template cnf: install-db settings, the bare option bare')
})

t.test('PostgreSQL: shared_buffers a tenth below 3 GB, a quarter from 3 GB', async (t) => {
  t.same(postgresMemory(512), { sharedBuffersMb: 51, effectiveCacheSizeMb: 512 })
  t.same(postgresMemory(2048), { sharedBuffersMb: 204, effectiveCacheSizeMb: 1536 })
  t.same(postgresMemory(4096), { sharedBuffersMb: 1024, effectiveCacheSizeMb: 3584 })
  const conf = renderPostgresConf({ paths, address: '127.0.0.7', port: 5432, ramMb: 4096 })
  for (const line of [
    "data_directory = '/i/abc/data'",
    "hba_file = '/i/abc/conf/pg_hba.conf'",
    "external_pid_file = '/i/abc/run/postgres.pid'",
    "listen_addresses = '127.0.0.7'",
    'port = 5432',
    "unix_socket_directories = '/i/abc/run'",
    'unix_socket_permissions = 0700',
    'shared_buffers = 1024MB',
    'effective_cache_size = 3584MB',
    'wal_level = replica',
  ])
    t.ok(conf.split('\n').includes(line), line)
  t.match(renderPgHba(), /^local all postgres trust$/m)
  t.match(renderPgHba(), /^local all all scram-sha-256$/m, 'every other role needs its password on the socket too')
  t.notMatch(renderPgHba(), /^local all all trust$/m)
  t.notMatch(renderPgHba(), /^host .* trust$/m, 'no trust over TCP')
})

t.test('Redis: maxmemory 75% of RAM, noeviction, ACL with a hash only', async (t) => {
  t.equal(redisMaxmemoryMb(1024), 768)
  t.equal(redisMaxmemoryMb(1), 1)
  const conf = renderRedisConf({ paths, address: '127.0.0.7', port: 6379, ramMb: 512 })
  for (const line of [
    'bind 127.0.0.7',
    'port 6379',
    'unixsocket /i/abc/run/redis.sock',
    'unixsocketperm 700',
    'pidfile /i/abc/run/redis.pid',
    'dir /i/abc/data',
    'daemonize no',
    'maxmemory 384mb',
    'maxmemory-policy noeviction',
    'aclfile /i/abc/conf/users.acl',
  ])
    t.ok(conf.split('\n').includes(line), line)
  t.notMatch(conf, /requirepass/)
  const acl = renderRedisAcl('s3cret')
  t.equal(acl, `user default on #${createHash('sha256').update('s3cret').digest('hex')} ~* &* +@all\n`)
  t.notMatch(acl, /s3cret/)
})
