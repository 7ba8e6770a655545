// Renders bird.conf (BIRD 2) for one POP: the anycast prefixes as static blackhole routes that live
// only inside BIRD, one eBGP session per upstream peer that imports nothing and exports those
// prefixes only while the gate file says so (tagged 65535:0 and prepended while draining). Passwords
// are BIRD constants from a separate include; their values never appear here.
import type {BirdModel, BirdPeerModel} from './anycast-model.js'

function quoted(text: string): string {
  if (/["\n\\]/.test(text)) throw new Error(`${JSON.stringify(text)} cannot be written as a BIRD string`)
  return `"${text}"`
}

function peerBlock(model: BirdModel, peer: BirdPeerModel): string[] {
  const family = peer.family === 4 ? 'ipv4' : 'ipv6'
  const local = peer.localAddress ? `local ${peer.localAddress}${peer.localPort ? ` port ${peer.localPort}` : ''} as ${model.asn}` : `local as ${model.asn}`
  const lines = [
    `protocol bgp ${peer.name} {`,
    `  description ${quoted(`${peer.address} AS${peer.asn}`)};`,
    `  ${local};`,
    `  neighbor ${peer.address}${peer.port !== 179 ? ` port ${peer.port}` : ''} as ${peer.asn};`,
  ]
  if (peer.multihop !== undefined) lines.push(`  multihop ${peer.multihop};`)
  if (peer.passwordSymbol) lines.push(`  password ${peer.passwordSymbol};   # from ${peer.passwordEnv}, see the include above`)
  lines.push(
    `  ${family} {`,
    '    import none;',
    '    export filter edge_anycast_export;',
    '    next hop self;',
    '  };',
    '}',
  )
  return lines
}

export function renderBirdConf(model: BirdModel, headerLines: readonly string[]): string {
  const families = ([4, 6] as const).filter((f) => model.announce[f].length > 0 && model.peers.some((p) => p.family === f))
  const statics = families.map((f) => `edge_anycast${f}`)
  const hasPasswords = model.peers.some((p) => p.passwordSymbol)
  const out: string[] = headerLines.map((l) => `# ${l}`)
  out.push(
    `# BIRD 2 for POP ${model.pop}: announces the anycast prefixes to the upstream peers while the gate`,
    '# says so. No kernel protocol: BIRD never changes this host\'s routing table; the addresses sit on',
    '# the dummy interface, set up by edgeproxy-anycast-setup.service. Check with: bird -p -c bird.conf',
    '',
    'log syslog all;',
    `router id ${model.routerId};`,
    '',
    '# EDGE_ANNOUNCE and EDGE_DRAINING: rewritten by `edgeproxy anycast watch|drain|withdraw`, which then',
    '# run `birdc configure`. A reconfigure re-evaluates the export filter; the sessions stay up.',
    `include ${quoted(model.gateFile)};`,
  )
  if (hasPasswords) {
    out.push(
      '# TCP-MD5 passwords as constants, written by `edgeproxy anycast prepare` (edgeproxy-anycast-setup.service)',
      '# from the 0600 env file; the values are never in this file.',
      `include ${quoted(model.passwordsFile)};`,
    )
  }
  out.push('', 'protocol device {', '}', '')
  out.push('# The announced prefixes, as routes inside BIRD only: blackhole, never exported to the kernel.')
  for (const f of families) {
    out.push(`protocol static edge_anycast${f} {`, `  ipv${f};`, ...model.announce[f].map((p) => `  route ${p} blackhole;`), '}')
  }
  out.push(
    '',
    '# Only the anycast statics, only while the gate is open. Draining: RFC 8326 GRACEFUL_SHUTDOWN',
    '# (receivers drop the local preference to 0) and one more copy of our AS in the path, so traffic',
    '# moves to other POPs before the withdraw.',
    'filter edge_anycast_export {',
    '  if !EDGE_ANNOUNCE then reject;',
    statics.length === 0 ? '  reject;   # no peer of an announced family at this POP' : `  if ${statics.map((s) => `proto != ${quoted(s)}`).join(' && ')} then reject;`,
    '  if EDGE_DRAINING then {',
    '    bgp_community.add((65535, 0));',
    `    bgp_path.prepend(${model.asn});`,
    '  }',
    '  accept;',
    '}',
  )
  for (const peer of model.peers) out.push('', ...peerBlock(model, peer))
  return out.join('\n') + '\n'
}
