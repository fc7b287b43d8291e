/**
 * A fast reader for the plain YAML that clouds.yaml files are in practice: block
 * mappings, `- scalar` lists, plain/quoted scalars and comments, with YAML 1.1
 * scalar rules (what PyYAML's safe_load gives). Anything else (flow collections,
 * anchors, tags, block scalars, escapes, documents) returns undefined and the
 * caller uses the full `yaml` parser: this only saves the CLI loading it (~20 ms).
 */
export function parseSimpleYaml(text: string): unknown {
  const lines: Array<{ indent: number; text: string }> = []
  for (const raw of text.split(/\r?\n/)) {
    if (/^\s*(#.*)?$/.test(raw)) continue
    if (/^\s*\t/.test(raw) || /^(---|\.\.\.|%)/.test(raw)) return undefined
    const indent = raw.length - raw.trimStart().length
    lines.push({ indent, text: raw.slice(indent).replace(/\s+$/, '') })
  }
  if (lines.length === 0) return null
  let pos = 0
  const BAIL = Symbol('bail')

  function block(indent: number): unknown {
    const first = lines[pos]
    if (first.text === '-' || first.text.startsWith('- ')) {
      const list: unknown[] = []
      while (pos < lines.length && lines[pos].indent === indent && (lines[pos].text === '-' || lines[pos].text.startsWith('- '))) {
        const v = scalar(lines[pos].text.slice(1).trim())
        if (v === BAIL || lines[pos].text === '-') throw BAIL
        list.push(v)
        pos++
      }
      if (pos < lines.length && lines[pos].indent > indent) throw BAIL
      return list
    }
    const map: Record<string, unknown> = {}
    while (pos < lines.length && lines[pos].indent === indent) {
      const m = /^("[^"\\]*"|'[^']*'|[^\s'"#{}[\],&*!|>%@`?:-][^#]*?|-[^\s#][^#]*?)\s*:(?:\s+(.*))?$/.exec(lines[pos].text)
      if (!m) throw BAIL
      const k = m[1].startsWith('"') || m[1].startsWith("'") ? m[1].slice(1, -1).replace(/''/g, "'") : m[1]
      if (k.includes(': ')) throw BAIL
      // Keys resolve like values in YAML 1.1 (`y:` is the key true): only plain-string keys here.
      if (!/^["']/.test(m[1]) && scalar(k) !== k) throw BAIL
      pos++
      const rest = m[2] === undefined ? '' : m[2].replace(/^#.*$/, '')
      if (rest === '') {
        if (pos < lines.length && lines[pos].indent > indent) map[k] = block(lines[pos].indent)
        else if (pos < lines.length && lines[pos].indent === indent && lines[pos].text.startsWith('- ')) map[k] = block(indent)
        else map[k] = null
      } else {
        const v = scalar(rest)
        if (v === BAIL) throw BAIL
        map[k] = v
        if (pos < lines.length && lines[pos].indent > indent) throw BAIL
      }
    }
    if (pos < lines.length && lines[pos].indent > indent) throw BAIL
    return map
  }

  function scalar(s: string): unknown {
    if (s.startsWith('"')) return /^"[^"\\]*"\s*(#.*)?$/.test(s) ? s.slice(1, s.indexOf('"', 1)) : BAIL
    if (s.startsWith("'")) {
      const m = /^'((?:[^']|'')*)'\s*(#.*)?$/.exec(s)
      return m ? m[1].replace(/''/g, "'") : BAIL
    }
    if (/^[{[&*!|>%@`]/.test(s)) return BAIL
    const v = s.replace(/\s+#.*$/, '')
    if (/:\s|:$/.test(v) || v.includes('\t')) return BAIL
    if (/^(~|null|Null|NULL)$/.test(v)) return null
    if (/^(y|Y|yes|Yes|YES|on|On|ON|true|True|TRUE)$/.test(v)) return true
    if (/^(n|N|no|No|NO|off|Off|OFF|false|False|FALSE)$/.test(v)) return false
    if (/^[-+]?(0|[1-9][0-9]*)$/.test(v)) return Number(v)
    if (/^[-+]?[0-9]+\.[0-9]+$/.test(v)) return Number(v)
    // Other YAML 1.1 numbers (octal, hex, binary, underscores, sexagesimal, exponents, .inf, .nan)
    // and timestamps: leave to the real parser. Any other plain word is a string.
    if (/^[-+]?(0[0-7_]+|0x[0-9a-fA-F_]+|0b[01_]+|[0-9][0-9_]*(:[0-5]?[0-9])*(\.[0-9_]*)?([eE][-+]?[0-9]+)?|\.[0-9_]+([eE][-+]?[0-9]+)?|\.(inf|Inf|INF))$/.test(v)) return BAIL
    if (/^\.(nan|NaN|NAN)$/.test(v) || /^\d{4}-\d\d?-\d\d?/.test(v) || /^[-?:](\s|$)/.test(v) || v.startsWith('<<')) return BAIL
    return v
  }

  try {
    const doc = block(lines[0].indent)
    return pos === lines.length ? doc : undefined
  } catch (e) {
    if (e === BAIL) return undefined
    throw e
  }
}
