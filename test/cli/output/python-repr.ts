import t from 'tap'
import { pyFloatRepr, pyLt, pyRepr, pyStr, PyTypeError, pyTupleRepr } from '../../../src/cli/output/python-repr.js'
import { fillText } from '../../../src/cli/output/text-wrap.js'
import { blockWidth } from '../../../src/cli/output/char-width.js'

t.test('str() and repr() of scalars', async (t) => {
  t.equal(pyStr(null), 'None')
  t.equal(pyStr(undefined), 'None')
  t.equal(pyStr(true), 'True')
  t.equal(pyStr(false), 'False')
  t.equal(pyStr(42), '42')
  t.equal(pyStr(-0), '0')
  t.equal(pyStr(10n ** 20n), '100000000000000000000')
  t.equal(pyStr('plain'), 'plain')
  t.equal(pyRepr('plain'), "'plain'")
})

t.test('float repr: shortest digits, exponent outside 1e-4 .. 1e16', async (t) => {
  t.equal(pyFloatRepr(0.5), '0.5')
  t.equal(pyFloatRepr(0.1), '0.1')
  t.equal(pyFloatRepr(0.0001), '0.0001')
  t.equal(pyFloatRepr(0.00001), '1e-05')
  t.equal(pyFloatRepr(1.5e-7), '1.5e-07')
  t.equal(pyFloatRepr(1e16), '1e+16')
  t.equal(pyFloatRepr(1234567890123456.8), '1234567890123456.8')
  t.equal(pyFloatRepr(2.5e300), '2.5e+300')
  t.equal(pyFloatRepr(-3.75), '-3.75')
  t.equal(pyFloatRepr(100), '100.0')
  t.equal(pyFloatRepr(Number.NaN), 'nan')
  t.equal(pyFloatRepr(-Infinity), '-inf')
  t.equal(pyStr(1e22), '1e+22', 'integral but beyond 2**53: a float')
})

t.test('string repr picks quotes and escapes like CPython', async (t) => {
  t.equal(pyRepr("it's"), `"it's"`)
  t.equal(pyRepr(`it's "x"`), `'it\\'s "x"'`)
  t.equal(pyRepr('a\\b'), "'a\\\\b'")
  t.equal(pyRepr('t\tn\nr\r'), "'t\\tn\\nr\\r'")
  t.equal(pyRepr('\u0001\u007f\u0085\u00a0'), "'\\x01\\x7f\\x85\\xa0'")
  t.equal(pyRepr('café 日本 😀'), "'café 日本 😀'")
  t.equal(pyRepr('\u200b\ufeff'), "'\\u200b\\ufeff'")
})

t.test('list, dict and tuple repr', async (t) => {
  t.equal(pyStr([{ address: '10.0.0.5', type: 'private', network: 'n1' }]), "[{'address': '10.0.0.5', 'type': 'private', 'network': 'n1'}]")
  t.equal(pyStr(['0.0.0.0/0']), "['0.0.0.0/0']")
  t.equal(pyStr([]), '[]')
  t.equal(pyStr({}), '{}')
  t.equal(pyStr({ a: [1, 2.5, null, true], b: { c: 'd' } }), "{'a': [1, 2.5, None, True], 'b': {'c': 'd'}}")
  t.equal(pyTupleRepr(['ID']), "('ID',)")
  t.equal(pyTupleRepr(['ID', 'Name']), "('ID', 'Name')")
  t.equal(pyTupleRepr([]), '()')
})

t.test('< follows Python, including TypeError for mixed types', async (t) => {
  t.ok(pyLt(1, 2.5))
  t.ok(pyLt(false, true))
  t.ok(pyLt('B', 'a'))
  t.ok(pyLt('\uffff', '😀'), 'code points, not UTF-16 units')
  t.ok(pyLt([1, 'a'], [1, 'b']))
  t.notOk(pyLt([1], [1]))
  t.throws(() => pyLt('a', 1), PyTypeError)
  t.throws(() => pyLt({}, {}), PyTypeError)
  t.throws(() => pyLt(null, null), PyTypeError)
})

t.test('textwrap.fill', async (t) => {
  t.equal(fillText('the quick brown fox jumps over the lazy dog', 20), 'the quick brown fox\njumps over the lazy\ndog')
  t.equal(fillText('Look, goof-ball -- use the -b option!', 12), 'Look, goof-\nball -- use\nthe -b\noption!')
  t.equal(fillText('abcdefghij', 4), 'abcd\nefgh\nij')
  t.equal(fillText('a\tb', 20), 'a       b')
  t.equal(fillText('  lead and trail  ', 7), '  lead\nand\ntrail')
})

t.test('display width', async (t) => {
  t.equal(blockWidth('abc'), 3)
  t.equal(blockWidth('日本'), 4)
  t.equal(blockWidth('e\u0301'), 1)
  t.equal(blockWidth('\u001b[31mred\u001b[0m'), 3)
  t.equal(blockWidth('tab\there'), -1)
})
