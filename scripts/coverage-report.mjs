#!/usr/bin/env node
// Reports the coverage of a test run (.tap/coverage: tap's test processes and the processes they
// start, test/helpers/lab.ts) as a text summary and json-summary, on src/ only. The report is c8's,
// as tap makes it (`tap report` would also print a TAP stream of its own); before c8 reads them, the
// files (~1,100 in a full run) are merged here, each step for a reason given where it is done:
// - in worker threads, a share each (premerge): c8 merges them one at a time on one thread and
//   re-merges all it merged so far at each file (~65 s of a full run, one core idle meanwhile);
// - by script and source map, not by script alone: a source that two loaders transformed differently
//   has two maps, ranges measured on one transform mean nothing on the other, and c8 keeps one map
//   per file (the last it read, so that the coverage of files a test child ran through tsx counted
//   on the wrong map). The runs under the map most processes had are counted, the others named;
//   test processes and their TypeScript children all run scripts/ts-loader;
// - the bundles' maps, which Node no longer embeds in every process's file, added once
//   (attachBundleMaps).
// `--dir D --out O` read the coverage of D and write the report in O (the defaults are .tap/coverage
// and .tap/report; test/scripts/coverage-report.ts uses its own).
import { Report } from 'c8'
import { mergeScriptCovs } from '@bcoe/v8-coverage'
import libReport from 'istanbul-lib-report'
import reports from 'istanbul-reports'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'

/** Coverage c8 keeps: scripts of files outside node_modules (it drops Node's own and the packages' after reading them). */
const kept = (url) => url.startsWith('file://') && !url.includes('/node_modules/')

/** Which source map a script ran with: its mappings and sources ('none' without one). */
function mapKey(entry) {
  if (!entry) return 'none'
  if (!entry.data) return 'null'
  return createHash('sha1')
    .update(entry.data.mappings ?? '')
    .update('\0')
    .update(JSON.stringify(entry.data.sources ?? []))
    .digest('hex')
}

/**
 * Merges script coverages per key, a batch at a time: each merge walks the result merged so far, so
 * merging 32 at once costs about what merging one does (c8's mergeAsync merges one at a time).
 */
class Merger {
  groups = new Map()
  add(key, script, extra) {
    let g = this.groups.get(key)
    if (!g) this.groups.set(key, (g = { ...extra, count: 0, merged: undefined, pending: [] }))
    g.count += extra.count ?? 1
    g.pending.push(script)
    if (g.pending.length >= 32) this.flush(g)
  }
  flush(g) {
    if (!g.pending.length) return
    g.merged = mergeScriptCovs(g.merged ? [g.merged, ...g.pending] : g.pending)
    g.pending = []
  }
  done() {
    for (const g of this.groups.values()) this.flush(g)
    return [...this.groups.values()]
  }
}

/**
 * A worker's share: its files read, what c8 would drop dropped at once, the rest merged by script
 * and source map (by @bcoe/v8-coverage, as c8 does), each with its map and the number of processes
 * that ran it; written as JSON in `out`.
 */
function premerge({ files, out }) {
  const merger = new Merger()
  for (const file of files) {
    let cov
    try {
      cov = JSON.parse(readFileSync(file, 'utf8'))
    } catch {
      continue // as c8 does: a file that is not coverage (or half-written by a killed process) counts for nothing
    }
    if (!Array.isArray(cov?.result)) continue
    for (const script of cov.result) {
      if (!kept(script.url)) continue
      const entry = cov['source-map-cache']?.[script.url]
      const key = mapKey(entry)
      merger.add(`${script.url}\0${key}`, script, { url: script.url, key, map: entry })
    }
  }
  writeFileSync(out, JSON.stringify(merger.done().map(({ url, key, map, count, merged }) => ({ url, key, map, count, script: merged }))))
}

if (!isMainThread) {
  premerge(workerData)
  parentPort.postMessage('done')
} else {
  await main()
}

async function main() {
  const root = fileURLToPath(new URL('..', import.meta.url))
  const { values: args } = parseArgs({ options: { dir: { type: 'string' }, out: { type: 'string' } } })
  const dir = args.dir ?? join(root, '.tap/coverage')
  const out = args.out ?? join(root, '.tap/report')
  let files = []
  try {
    files = readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => join(dir, f))
  } catch {}
  if (!files.length) {
    console.error(`coverage: nothing in ${dir} (was the suite run with coverage?)`)
    process.exit(1)
  }
  // Shares of about equal bytes: each file, largest first, to the share with the fewest.
  const n = Math.max(1, Math.min(availableParallelism(), 4, files.length))
  const shares = Array.from({ length: n }, () => ({ files: [], bytes: 0 }))
  for (const { f, size } of files.map((f) => ({ f, size: statSync(f).size })).sort((a, b) => b.size - a.size)) {
    const s = shares.reduce((a, b) => (b.bytes < a.bytes ? b : a))
    s.files.push(f)
    s.bytes += size
  }
  const tmp = mkdtempSync(join(tmpdir(), 'trove-coverage.'))
  try {
    const outs = shares.map((_, i) => join(tmp, `share-${i}.json`))
    await Promise.all(shares.map((s, i) => run({ files: s.files, out: outs[i] })))
    // The shares' groups merged; per script, its maps ranked by the processes that ran them.
    const merger = new Merger()
    for (const o of outs) for (const g of JSON.parse(readFileSync(o, 'utf8'))) merger.add(`${g.url}\0${g.key}`, g.script, g)
    const byUrl = new Map()
    for (const g of merger.done()) byUrl.set(g.url, [...(byUrl.get(g.url) ?? []), g])
    // Each script with the map most processes ran it with; c8 takes one map per file.
    const cov = { result: [], 'source-map-cache': {} }
    const others = []
    for (const [url, groups] of byUrl) {
      groups.sort((a, b) => b.count - a.count)
      cov.result.push(groups[0].merged)
      if (groups[0].map) cov['source-map-cache'][url] = groups[0].map
      if (groups.length > 1) others.push(`${url} (${groups.slice(1).reduce((n, g) => n + g.count, 0)} of ${groups.reduce((n, g) => n + g.count, 0)} processes)`)
    }
    attachBundleMaps(cov)
    const merged = join(tmp, 'merged')
    mkdirSync(merged)
    writeFileSync(join(merged, 'coverage.json'), JSON.stringify(cov))
    const map = await coverageMap(root, merged, out)
    const src = join(root, 'src') + sep
    map.filter((file) => file.startsWith(src))
    const context = libReport.createContext({ dir: out, coverageMap: map })
    for (const r of ['text-summary', 'json-summary']) reports.create(r).execute(context)
    if (others.length) {
      console.log(`coverage: not counted, the runs of ${others.length} file(s) under another loader than most (another transform, another source map):`)
      for (const o of others.slice(0, 10)) console.log(`  ${o}`)
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

/** Runs premerge in a worker thread. */
function run(data) {
  return new Promise((resolve, reject) => {
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: data })
    w.once('message', resolve)
    w.once('error', reject)
    w.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`coverage: a merging worker exited ${code}`))))
  })
}

/**
 * The bundles of dist/ (scripts/build.mjs) have their source maps beside them, not named in the
 * file (esbuild's `external`): Node embeds a named map in the coverage of every process that loads
 * the file, and two thirds of a full run's coverage was the same few maps, again and again. The
 * maps of the bundles that ran are added here once, as Node would have given them, for c8 to count
 * the bundles' lines on the sources they name.
 */
function attachBundleMaps(cov) {
  for (const { url } of cov.result) {
    if (cov['source-map-cache'][url]) continue
    const path = fileURLToPath(url)
    if (!path.endsWith('.js') || !existsSync(`${path}.map`)) continue
    try {
      cov['source-map-cache'][url] = { data: JSON.parse(readFileSync(`${path}.map`, 'utf8')) }
    } catch {
      /* not a map: the bundle counts as itself (outside src/, so not at all) */
    }
  }
}

/**
 * c8's coverage map of the coverage in `dir`. The servers and agents that tests start run bundles
 * (dist/{server,agent}/bundle.js, test/helpers/lab.ts): their coverage is counted on the sources the bundles'
 * maps name, packages included; only src/ is the project's. c8 filters sources after the remap only
 * by an option that also drops the ranges of single-source maps (it matches their file:// source
 * names against `include`), so the caller filters the map and reports as c8 would.
 */
async function coverageMap(root, dir, out) {
  process.chdir(root)
  const report = new Report({ reportsDirectory: out, tempDirectory: dir, excludeNodeModules: true })
  return report.getCoverageMapFromAllCoverageFiles()
}
