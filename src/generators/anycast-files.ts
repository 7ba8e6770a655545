// The anycast files of one POP folder (when the topology has an anycast section and the POP a bgp
// section) and their part of the POP's README. renderHostFiles() adds these; nothing else here.
import {renderGateFile} from '../anycast/gate.js'
import {renderAnycastEnv, renderBgpPasswordsEnv} from './anycast-env.js'
import type {AnycastHostModel} from './anycast-model.js'
import {renderAnycastSetupService, renderAnycastWatchService} from './anycast-units.js'
import {renderBgpFirewallScript} from './bgp-firewall.js'
import {renderBirdConf} from './bird-conf.js'
import type {HostModel} from './host-model.js'
import type {PlannedFile} from './write-output.js'

const SECRET = 0o600
const PUBLIC = 0o644
const SCRIPT = 0o755

export function renderAnycastFiles(host: HostModel, anycast: AnycastHostModel, headerLines: readonly string[]): PlannedFile[] {
  const files: PlannedFile[] = [
    {path: 'bird.conf', content: renderBirdConf(anycast.bird, headerLines), mode: PUBLIC},
    {path: 'anycast-gate.conf', content: renderGateFile('withdrawn'), mode: PUBLIC},
    {path: 'anycast.env', content: renderAnycastEnv(anycast, headerLines), mode: PUBLIC},
    {path: 'edgeproxy-anycast-setup.service', content: renderAnycastSetupService(host, anycast, headerLines), mode: PUBLIC},
    {path: 'edgeproxy-anycast.service', content: renderAnycastWatchService(host, anycast, headerLines), mode: PUBLIC},
    {path: 'firewall-bgp.sh', content: renderBgpFirewallScript(anycast, headerLines), mode: SCRIPT},
  ]
  if (anycast.passwordEnvs.length > 0) files.push({path: 'bgp-passwords.env', content: renderBgpPasswordsEnv(anycast, headerLines), mode: SECRET})
  return files
}

/** The README section: where the files go, the start order and the checks. */
export function renderAnycastReadmeSection(anycast: AnycastHostModel): string {
  const hasPasswords = anycast.passwordEnvs.length > 0
  const rows: string[][] = [
    ['`bird.conf`', '`/etc/bird/bird.conf`', '0640 root:bird'],
    ['`anycast-gate.conf`', `\`${anycast.paths.gateFile}\``, '0644 edgeproxy (withdrawn; the watcher rewrites it)'],
    ['`anycast.env`', `\`${anycast.envFile}\``, '0644'],
    ...(hasPasswords ? [['`bgp-passwords.env`', `\`${anycast.passwordsEnvFile}\``, '0600 root (fill in once, on the host)']] : []),
    ['`edgeproxy-anycast-setup.service`', '`/etc/systemd/system/`', '0644'],
    ['`edgeproxy-anycast.service`', '`/etc/systemd/system/`', '0644'],
    ['`firewall-bgp.sh`', '(run once as root, after firewall.sh)', '0755'],
  ]
  const peers = anycast.bird.peers.map((p) => `${p.name} (${p.address}, AS${p.asn})`).join(', ')
  const out: string[] = []
  out.push('\n## Anycast (BGP)\n\n')
  out.push(`This POP announces ${[...anycast.bird.announce[4], ...anycast.bird.announce[6]].join(', ')} from AS${anycast.bird.asn} to ${peers},\n`)
  out.push(`only while \`edgeproxy anycast watch\` finds the proxy answering on ${anycast.interfaceAddresses.map((a) => a.replace(/\/\d+$/, '')).join(', ')}, its /health ok or\n`)
  out.push(`degraded and a routable backend (${anycast.check.rise} good probes to announce, ${anycast.check.fall} failed ones to withdraw, every ${anycast.check.intervalMs / 1000} s).\n\n`)
  out.push('| file | install as | mode |\n|---|---|---|\n')
  for (const r of rows) out.push(`| ${r.join(' | ')} |\n`)
  out.push('\nAfter the steps above (edgeproxy running):\n\n')
  out.push('```sh\n')
  out.push('apt-get install bird2\n')
  out.push('install -m 0640 -g bird bird.conf /etc/bird/bird.conf\n')
  out.push(`install -d -o edgeproxy -g edgeproxy ${dirOf(anycast.paths.gateFile)}\n`)
  out.push(`install -m 0644 -o edgeproxy -g edgeproxy anycast-gate.conf ${anycast.paths.gateFile}\n`)
  out.push(`install -m 0644 anycast.env ${anycast.envFile}\n`)
  if (hasPasswords) {
    out.push(`[ -e ${anycast.passwordsEnvFile} ] || install -m 0600 bgp-passwords.env ${anycast.passwordsEnvFile}\n`)
    out.push(`$EDITOR ${anycast.passwordsEnvFile}        # ${anycast.passwordEnvs.join(', ')}: the passwords your provider gave you\n`)
  }
  out.push('install -m 0644 edgeproxy-anycast-setup.service edgeproxy-anycast.service /etc/systemd/system/\n')
  out.push('systemctl daemon-reload\n')
  out.push(`systemctl enable edgeproxy-anycast-setup    # runs before every BIRD start: ${anycast.interface}, gate withdrawn${hasPasswords ? ', passwords' : ''}\n`)
  out.push('sh firewall-bgp.sh\n')
  out.push('systemctl restart bird\n')
  out.push('systemctl enable --now edgeproxy-anycast\n')
  out.push('```\n\n')
  out.push(`Check: \`ip address show ${anycast.interface}\` lists the addresses; \`birdc show protocols\` shows every edge_peer \`Established\`;\n`)
  out.push('`edgeproxy anycast status` shows the gate `announced` and the exported prefixes once the probes pass.\n')
  out.push(`Planned work: \`edgeproxy anycast drain\` (65535:0 and a prepend for ${anycast.drainSecs} s, then withdrawn, and kept withdrawn across restarts),\n`)
  out.push('then `edgeproxy anycast resume` when done. Stopping edgeproxy-anycast (or a crash) withdraws at once; BIRD and its sessions stay up.\n')
  return out.join('')
}

function dirOf(file: string): string {
  const i = file.lastIndexOf('/')
  return i <= 0 ? '/' : file.slice(0, i)
}
