// The gate file BIRD includes: two `define`s that decide whether the anycast prefixes are exported
// (EDGE_ANNOUNCE) and whether they carry the graceful-shutdown community and a prepend
// (EDGE_DRAINING). The one place that writes and reads its text; knows nothing of probes or BIRD.

/** What BIRD does with the anycast prefixes. */
export type GatePhase = 'withdrawn' | 'announced' | 'draining'

export const GATE_PHASES: readonly GatePhase[] = ['withdrawn', 'announced', 'draining']

export function renderGateFile(phase: GatePhase): string {
  const announce = phase !== 'withdrawn'
  const draining = phase === 'draining'
  return (
    '# The anycast gate of this POP, included by bird.conf. Written by edgeproxy anycast (watch, drain,\n' +
    '# withdraw, prepare), which then runs `birdc configure`; edit the state with those commands, not here.\n' +
    `# ${phase}\n` +
    `define EDGE_ANNOUNCE = ${announce};\n` +
    `define EDGE_DRAINING = ${draining};\n`
  )
}

/** The phase a gate file says, or undefined when the text is not one this module wrote. */
export function parseGateFile(text: string): GatePhase | undefined {
  const announce = /^define EDGE_ANNOUNCE = (true|false);$/m.exec(text)?.[1]
  const draining = /^define EDGE_DRAINING = (true|false);$/m.exec(text)?.[1]
  if (announce === undefined || draining === undefined) return undefined
  if (announce === 'false') return 'withdrawn'
  return draining === 'true' ? 'draining' : 'announced'
}
