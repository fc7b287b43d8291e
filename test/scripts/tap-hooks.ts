import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { ROOT } from '../helpers/lab.js'

/**
 * patches/@tapjs+processinfo: with .taprc's test-env, a test process runs without tap's module hooks
 * (a thread and a message per module loaded: ~0.4 CPU-s per process, issue 11); its coverage is still
 * taken. processinfo keeps what its hooks record on a global: the files the process loaded.
 */
type ProcessInfo = { files: string[] }
const info = (globalThis as unknown as Record<symbol, ProcessInfo | undefined>)[Symbol.for('@tapjs/processinfo.ProcessInfoNodeData')]

t.test('.taprc turns the hooks off in test processes', async (t) => {
  const env: string[] = parse(readFileSync(join(ROOT, '.taprc'), 'utf8'))['test-env']
  t.ok(env.includes('_TAPJS_PROCESSINFO_NO_LOADER_=1'), 'test-env names the switch')
  t.equal(process.env._TAPJS_PROCESSINFO_NO_LOADER_, '1', 'this test process has it')
})

t.test('the patch applied: no hook recorded the modules this process loaded', async (t) => {
  t.ok(info, 'processinfo registered (coverage, the spawn wrap and the process end are its)')
  // With the hooks, every module is recorded: tap's alone are hundreds. Without, the main file and the
  // CommonJS modules (a require hook on the main thread, kept) remain.
  const esm = (info?.files ?? []).filter((f) => f.endsWith('.mjs') || (f.endsWith('.js') && f.includes('/esm/')))
  t.same(esm, [], `no ES module recorded (${info?.files.length} files recorded in all)`)
})

t.test('coverage is still taken in test processes', async (t) => {
  t.equal(process.env._TAPJS_PROCESSINFO_COVERAGE_, '1', 'tap covers this process')
  // processinfo's own module instance (the same URL as its --import loaded): its inspector session, started at the
  // process's start, is what takes the coverage at exit; without the hooks it must still be there.
  const coverage = (await import(join(ROOT, 'node_modules/@tapjs/processinfo/dist/esm/register-coverage.js'))) as { SESSION?: unknown }
  t.ok(coverage.SESSION, 'the coverage session is running')
})
