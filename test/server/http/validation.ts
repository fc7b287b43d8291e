import t from 'tap'
import { compileBodySchema } from '../../../src/server/http/validation.js'

t.test('a body schema is compiled at its first check, not when its route module loads', async (t) => {
  // ajv refuses an unknown type when it compiles: the refusal shows when compilation happens.
  const check = compileBodySchema({ type: 'object', properties: { size: { type: 'no-such-type' } } })
  t.throws(() => check({ size: 1 }), /no-such-type|type must be/, 'compiled (and refused) at the first check')
})

t.test('a compiled checker answers the upstream 400 text and accepts a good body', async (t) => {
  const check = compileBodySchema({ type: 'object', properties: { instance: { type: 'object', properties: { name: { type: 'string', maxLength: 3 } } } } })
  t.doesNotThrow(() => check({ instance: { name: 'abc' } }))
  t.throws(() => check({ instance: { name: 'abcd' } }), { message: "Validation error: instance['name'] 'abcd' is too long" })
  t.doesNotThrow(() => check({ instance: { name: 'x' } }), 'the second check reuses the compiled schema')
})
