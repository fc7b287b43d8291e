// Automatic failover end to end on real MariaDB (issue 16 items 2-4, docs/ha.md): the scenarios of
// test/helpers/auto-failover.ts (checkAutoFailover), one lab.
import t from 'tap'
import { checkAutoFailover } from '../helpers/auto-failover.js'

t.test('automatic failover on MariaDB', (t) => checkAutoFailover(t, 'mariadb'))
