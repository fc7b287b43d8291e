// Picks seeds for the bounded run of test/e2e/model.ts: prints the seeds whose command
// sequence, replayed on a rough count of instances, replicas and backups (which commands
// would apply), runs the wanted commands in order. Not a test; run it by hand:
//   node --import=tsx test/helpers/model-seeds.ts MAX_COMMANDS FIRST_SEED COUNT replica,replica,promote
import fc from 'fast-check'
import { commands } from './model-commands.js'
const max = Number(process.argv[2] ?? 4)
const from = Number(process.argv[3] ?? 20261204)
const want = (process.argv[5] ?? 'replica,promote').split(',')
for (let s = from; s < from + Number(process.argv[4] ?? 1); s++) {
  const [cmds] = fc.sample(fc.commands(commands, { maxCommands: max }), { seed: s, numRuns: 1 })
  let N = 1,
    P = 1,
    R = 0,
    B = 0
  const eff: string[] = []
  for (const c of [...cmds!]) {
    const n = String(c).split('(')[0]!
    const ok = {
      create: N < 4,
      write: P > 0,
      backup: P > 0,
      restore: B > 0 && N < 4,
      replica: P > 0 && N < 4,
      promote: R > 0,
      detach: R > 0,
      resizeVolume: N > 0,
      restart: N > 0,
      'attach/detach group': P > 0,
      rootEnable: P > 0,
      delete: N > 0,
    }[n]
    if (!ok) continue
    eff.push(String(c))
    if (n === 'create' || n === 'restore') {
      N++
      P++
    }
    if (n === 'backup') B++
    if (n === 'replica') {
      N++
      R++
    }
    if (n === 'detach') {
      R--
      P++
    }
    if (n === 'delete') {
      N--
      if (R > 0) R--
      else P--
    }
  }
  const seq = eff.map((e) => e.split('(')[0]).join(',')
  let i = 0
  for (const w of want) {
    const j = seq.split(',').indexOf(w, i)
    if (j < 0) {
      i = -1
      break
    }
    i = j + 1
  }
  if (i >= 0) console.log(s, eff.length, eff.join(', '))
}
