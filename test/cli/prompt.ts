import t from 'tap'
import { main } from '../../src/cli/main.js'
import type { IO } from '../../src/cli/spec.js'
import { fakeTrove, fault } from '../helpers/fake-trove.js'

/** main() with a terminal (or not) and scripted answers; records the questions. */
async function run(args: string[], env: Record<string, string>, o: { tty: boolean; answers?: Array<string | null> }) {
  let stdout = ''
  let stderr = ''
  const questions: string[] = []
  const answers = [...(o.answers ?? [])]
  const io: IO = {
    stdout: (s) => {
      stdout += s
    },
    stderr: (s) => {
      stderr += s
    },
    stdinIsTTY: o.tty,
    stdoutIsTTY: o.tty,
    stderrIsTTY: false,
    columns: 120,
    env,
    ask: async (q) => {
      questions.push(q)
      return answers.length ? answers.shift()! : null
    },
  }
  const code = await main(args, io)
  return { code, stdout, stderr, questions }
}

const ID = '0e5d3a0c-1111-4222-8333-444455556666'
const inst = { id: ID, name: 'db1', status: 'ACTIVE', flavor: { id: '1' }, datastore: { type: 'postgresql', version: '15' }, links: [] }

t.test('destructive commands confirm on a terminal only', async (t) => {
  const api = await fakeTrove(t, (s) => {
    if (s.method === 'GET' && s.url.startsWith('/instances?')) return { body: { instances: [inst] } }
    if (s.method === 'GET' && s.url === `/instances/${ID}`) return { body: { instance: inst } }
    if (s.method === 'GET' && s.url === '/instances/db1') return fault(404, 'itemNotFound', 'no')
    if (s.method === 'DELETE') return { status: 202 }
    return fault(404, 'itemNotFound', `unexpected ${s.method} ${s.url}`)
  })
  const deletes = () => api.seen.filter((s) => s.method === 'DELETE').length

  const no = await run(['instance', 'delete', 'db1'], api.env, { tty: true, answers: ['n'] })
  t.same([no.code, no.stderr, no.questions], [3, 'cancelled\n', ['Delete instance db1? [y/N] ']], 'declined: exit 3, nothing deleted')
  t.equal(deletes(), 0)
  const ctrlC = await run(['instance', 'delete', 'db1'], api.env, { tty: true, answers: [null] })
  t.equal(ctrlC.code, 3, 'Ctrl-C at the prompt: exit 3')
  t.equal(deletes(), 0)
  const yes = await run(['instance', 'delete', 'db1'], api.env, { tty: true, answers: ['y'] })
  t.same([yes.code, yes.stdout], [0, `Request to delete database instance ${ID} has been accepted.\n`])
  t.equal(deletes(), 1)
  const flag = await run(['instance', 'delete', 'db1', '--yes'], api.env, { tty: true })
  t.same([flag.code, flag.questions], [0, []], '--yes: no question')
  const short = await run(['db', 'delete', 'db1', 'shop', '-y'], api.env, { tty: true })
  t.same([short.code, short.questions], [0, []], '-y')
  const piped = await run(['instance', 'delete', 'db1'], api.env, { tty: false })
  t.same([piped.code, piped.questions], [0, []], 'never a prompt without a terminal (scripts behave like the openstack client)')
  for (const args of [
    ['user', 'delete', 'db1', 'app'],
    ['db', 'delete', 'db1', 'shop'],
    ['datastore', 'version', 'delete', ID],
    ['datastore', 'delete', 'redis'],
  ]) {
    const r = await run(args, api.env, { tty: true, answers: ['no'] })
    t.same([r.code, r.questions.length], [3, 1], `${args.join(' ')} asks`)
  }
  t.equal(deletes(), 4, 'declined prompts delete nothing')
})

t.test('instance create asks for a missing datastore, version and flavor on a terminal', async (t) => {
  const api = await fakeTrove(t, (s) => {
    if (s.method === 'GET' && s.url === '/datastores')
      return {
        body: {
          datastores: [
            { id: 'd1', name: 'mariadb' },
            { id: 'd2', name: 'postgresql' },
          ],
        },
      }
    if (s.method === 'GET' && s.url === '/datastores/postgresql/versions') return { body: { versions: [{ id: 'v1', name: '15', active: true }] } }
    if (s.method === 'GET' && s.url === '/flavors')
      return {
        body: {
          flavors: [
            { id: 1, str_id: '1', name: 'm1.tiny', ram: 512, vcpus: 1 },
            { id: 2, str_id: '2', name: 'm1.small', ram: 1024, vcpus: 1 },
          ],
        },
      }
    if (s.method === 'GET' && s.url === '/flavors/2') return { body: { flavor: { id: 2, str_id: '2', name: 'm1.small', ram: 1024, vcpus: 1 } } }
    if (s.method === 'POST' && s.url === '/instances') return { body: { instance: { ...inst, status: 'BUILD' } } }
    return fault(404, 'itemNotFound', `unexpected ${s.method} ${s.url}`)
  })
  const r = await run(['instance', 'create', 'db1', '--size', '1', '-f', 'value', '-c', 'status'], api.env, { tty: true, answers: ['2', 'm1.small'] })
  t.equal(r.code, 0, r.stderr)
  t.same(r.questions, ['Choose datastore [1-2]: ', 'Choose flavor [1-2]: '])
  t.match(r.stderr, /datastore version: 15/, 'a single choice is taken and said')
  t.same(api.seen.find((s) => s.method === 'POST')?.body, {
    instance: { name: 'db1', flavorRef: '2', volume: { size: 1, type: null }, datastore: { type: 'postgresql', version: '15' }, access: { is_public: false } },
  })
  const cancelled = await run(['instance', 'create', 'db1', '--size', '1'], api.env, { tty: true, answers: [''] })
  t.same([cancelled.code, cancelled.stderr.endsWith('cancelled\n')], [3, true])
  api.seen.length = 0
  const piped = await run(['instance', 'create', 'db1', '--size', '1'], api.env, { tty: false })
  t.same([piped.code, piped.stderr, piped.questions, api.seen.length], [1, 'Please specify a flavor\n', [], 0], 'off a terminal: the usual error, no request')
})
