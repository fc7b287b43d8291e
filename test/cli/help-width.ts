// --help fits an 80-column terminal: no line runs past the edge (long option terms put their
// description on the next line), and wide terminals keep commander's two columns.
import t from 'tap'
import { main } from '../../src/cli/main.js'
import type { IO } from '../../src/cli/spec.js'

async function help(args: string[], columns: number): Promise<string> {
  let out = ''
  const io: IO = {
    stdout: (s) => {
      out += s
    },
    stderr: (s) => {
      out += s
    },
    stdinIsTTY: false,
    stdoutIsTTY: false,
    stderrIsTTY: false,
    columns,
    env: { TROVE_NO_FAST_PATH: '1', PATH: process.env.PATH },
  }
  await main([...args, '--help'], io)
  return out
}

t.test('help is readable at 80 columns', async (t) => {
  for (const cmd of [
    ['instance', 'create'],
    ['backup', 'create'],
    ['instance', 'connect'],
    ['configuration', 'create'],
    ['user', 'create'],
  ]) {
    const text = await help(cmd, 80)
    t.same(
      text.split('\n').filter((l) => l.length > 80),
      [],
      `${cmd.join(' ')}: no line over 80 columns`,
    )
  }
  const narrow = await help(['instance', 'create'], 80)
  t.match(narrow, /\n {2}--replica-count <count>\n {8}Number of replicas to create \(defaults to 1 if replica_of specified\)\n/)
  const wide = await help(['instance', 'create'], 200)
  t.match(wide, /\n {2}--flavor <flavor> {2,}Flavor to create the instance \(name or ID\)\n/, 'two columns when they fit')
})
