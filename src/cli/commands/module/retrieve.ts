import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'

export const moduleRetrieve: CommandSpec = {
  path: ['module', 'retrieve'],
  summary: 'Retrieve module contents from an instance',
  description: 'Legacy `trove module-retrieve`: writes [<prefix>_]<name>_<datastore>_<version>.dat per module.',
  args: [{ name: 'instance', description: 'ID or name of the instance' }],
  options: [
    { flags: '--directory <directory>', description: 'Directory to write the module contents files in (default: current directory)' },
    { flags: '--prefix <prefix>', description: 'Prefix of the file names' },
  ],
  output: 'none',
  examples: ['trove module retrieve db1 --directory /tmp'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const inst = await findInstance(client, String(args.instance))
    const modules = await client.modules.listForInstance(inst.id, { fromGuest: true, includeContents: true })
    const dir = typeof opts.directory === 'string' ? opts.directory : '.'
    for (const m of modules) {
      const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_')
      const base = `${opts.prefix ? `${safe(String(opts.prefix))}_` : ''}${safe(m.name)}_${safe(m.datastore)}_${safe(m.datastore_version)}.dat`
      const file = join(dir, base)
      await writeFile(file, Buffer.from(m.contents ?? '', 'base64'), { mode: 0o600 })
      ctx.io.stdout(`Module contents for '${m.name}' written to '${file}'\n`)
    }
    return { kind: 'none' }
  },
}
