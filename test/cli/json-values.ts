// Configuration values read as Python reads them: integers beyond 2^53 stay exact up to the request body.
import t from 'tap'
import { parseValues } from '../../src/cli/json-values.js'
import { exactJsonText } from '../../src/cli/client-factory.js'

t.test('parseValues keeps integers beyond 2^53 exact, and the request body carries their digits', async (t) => {
  const values = parseValues('{"sort_buffer_size": 9007199254740993, "max_connect_errors": 18446744073709551615, "autocommit": 1}')
  t.same(values, { sort_buffer_size: 9007199254740993n, max_connect_errors: 18446744073709551615n, autocommit: 1 })
  t.equal(exactJsonText({ configuration: { values } }), '{"configuration":{"values":{"sort_buffer_size":9007199254740993,"max_connect_errors":18446744073709551615,"autocommit":1}}}')
  t.equal(exactJsonText({ a: [1, 'x', null] }), '{"a":[1,"x",null]}', 'no bigint: plain JSON.stringify')
})

t.test('parseValues: invalid JSON fails with Python json module text; NaN is refused', async (t) => {
  t.throws(() => parseValues('{'), { message: /Expecting property name enclosed in double quotes: line 1 column 2 \(char 1\)/ })
  t.throws(() => parseValues('{"a": NaN}'), { message: /values must be plain JSON/ })
})
