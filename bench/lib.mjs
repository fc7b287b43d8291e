// Shared helpers of the benchmark scripts.
import { cpus, loadavg, totalmem } from 'node:os'
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

export function rssMb(pid) {
  const kb = Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0)
  return kb / 1024
}

/**
 * The machine, and how busy it was: the 5-minute load average when the figures were written
 * (the machine is shared; at a load above the core count every figure is stretched).
 */
export function machine() {
  const kernel = execFileSync('uname', ['-r']).toString().trim()
  return `${cpus().length} cores (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${kernel}, Node ${process.version}, load average ${loadavg()[1].toFixed(1)} (5 min)`
}

/** Replaces (or appends) the section `key` of BENCHMARKS.md. */
export function writeSection(key, title, body) {
  const file = join(ROOT, 'BENCHMARKS.md')
  let text = existsSync(file) ? readFileSync(file, 'utf8') : "# Benchmarks\n\nFigures measured on this project's machine by the scripts in bench/. Each section says the command that made it.\n"
  const start = `<!-- bench:${key}:start -->`
  const end = `<!-- bench:${key}:end -->`
  const block = `${start}\n## ${title}\n\n${body}\n${end}`
  const i = text.indexOf(start)
  const j = text.indexOf(end)
  text = i >= 0 && j > i ? text.slice(0, i) + block + text.slice(j + end.length) : `${text.trimEnd()}\n\n${block}\n`
  writeFileSync(file, text)
}
