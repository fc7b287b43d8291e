// Synchronous replication on real postgresql (docs/ha.md): a commit is acknowledged only once the replica has it.
import t from 'tap'
import { checkSync } from '../helpers/sync-check.js'

t.test('synchronous replication on postgresql', (t) => checkSync(t, 'postgresql'))
