// Reads the Prometheus text format (what GET /metrics serves) into samples: enough for
// `edgeproxy status` and tests, with no dependency, so a CLI command can load it cheaply.
// Comments (# HELP, # TYPE) are skipped; timestamps are ignored.

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/gy

function unescape(text: string): string {
  return text.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))
}

function parseValue(text: string): number {
  if (text === '+Inf') return Infinity
  if (text === '-Inf') return -Infinity
  return Number(text)
}

export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = []
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const m = LINE.exec(line)
    if (m === null) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`)
    const labels: Record<string, string> = {}
    if (m[2] !== undefined && m[2] !== '') {
      LABEL.lastIndex = 0
      let pair: RegExpExecArray | null
      let end = 0
      while ((pair = LABEL.exec(m[2])) !== null) {
        labels[pair[1]] = unescape(pair[2])
        end = LABEL.lastIndex
      }
      if (end !== m[2].length) throw new Error(`bad labels in Prometheus sample line: ${JSON.stringify(line)}`)
    }
    samples.push({name: m[1], labels, value: parseValue(m[3])})
  }
  return samples
}

/** The value of the one sample named `name` whose labels include `labels`; undefined when none. */
export function sampleValue(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const entries = Object.entries(labels)
  return samples.find((s) => s.name === name && entries.every(([k, v]) => s.labels[k] === v))?.value
}
