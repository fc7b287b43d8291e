// Fast dead-link detection in an HA set on real MariaDB (docs/ha.md "Dead links"): the scenarios of
// test/helpers/auto-failover-pause.ts (checkDeadLinks), one lab.
import t from 'tap'
import { checkDeadLinks } from '../helpers/auto-failover-pause.js'

t.test('dead-link detection on MariaDB', (t) => checkDeadLinks(t, 'mariadb'))
