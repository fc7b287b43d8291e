// Issue 16 item 3: an ejected redis primary rejoins its set as a replica by itself, never taking a write.
import t from 'tap'
import { checkRejoin } from '../helpers/rejoin-check.js'

t.test('an ejected redis primary rejoins as a replica of the new primary', (t) => checkRejoin(t, 'redis'))
