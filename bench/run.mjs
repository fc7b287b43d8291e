// `npm run bench`: every benchmark script, one after the other.
const scripts = ['./create.mjs', './api.mjs']
for (const s of scripts) {
  process.stdout.write(`== ${s}\n`)
  await import(s)
}
