// `npm run bench`: every benchmark script, one after the other.
const scripts = ['./create.mjs', './cli.mjs', './api.mjs']
for (const s of scripts) {
  process.stdout.write(`== ${s}\n`)
  await import(s)
}
