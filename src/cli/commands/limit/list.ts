import type { CommandSpec } from '../../spec.js'
import { prettyTableString } from '../../output/pretty-table.js'
import { compareCodePoints, pyStr } from '../../output/python-repr.js'

export const limitList: CommandSpec = {
  path: ['limit', 'list'],
  summary: 'List database limits',
  description: 'Prints the absolute limits as a Property/Value table (always a table, whatever -f says, as the openstack client does), then the rate limits.',
  output: 'list',
  examples: ['trove limit list'],
  async run(ctx) {
    const [absolute, ...rates] = await (await ctx.client()).limits.list()
    const props = Object.keys(absolute).sort(compareCodePoints)
    ctx.io.stdout(
      prettyTableString({
        fieldNames: ['Property', 'Value'],
        rows: props.map((p) => [p, pyStr(absolute[p])]),
        align: ['l', 'l'],
        printEmpty: true,
      }) + '\n',
    )
    return { kind: 'list', columns: ['Value', 'Verb', 'Remaining', 'Unit'], rows: rates.map((r) => [r.value, r.verb, r.remaining, r.unit]) }
  },
}
