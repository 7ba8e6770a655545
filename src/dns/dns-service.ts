// The POP's internal DNS server as an engine service: the sockets (dns-server.ts) answer from a
// record table rebuilt when the router's snapshot changes (never per query, never from the store),
// and from the router's live view of what is routable. Counts queries by type and rcode for
// /health and metrics, and adds "DNS would answer" to GET /api/v1/route.
import type {Backend} from '../balancer/backend.js'
import type {EngineParts} from '../engine.js'
import {formatHostPort, isNonPublicAddress, normalizeIp, type HostPort} from '../net/address.js'
import type {Service} from '../server/service.js'
import type {QueryContext} from './answer.js'
import {handleMessage, type Transport} from './dns-message.js'
import {DnsServer} from './dns-server.js'
import {explainDns} from './explain.js'
import {buildRecordTable, type RecordTable} from './record-table.js'
import {DNS_LISTEN_SETTING, type DnsConfig} from './settings.js'

export class DnsService implements Service {
  readonly name = 'dns'
  readonly server: DnsServer
  private table?: RecordTable
  private tableSnapshot?: readonly Backend[]
  private lastNotes = ''
  private serial = 0

  constructor(
    private readonly parts: Pick<EngineParts, 'router' | 'geo' | 'logger' | 'dnsCounters'>,
    private readonly config: DnsConfig,
    private readonly now: () => number = Date.now,
  ) {
    this.server = new DnsServer({
      logger: parts.logger,
      setting: DNS_LISTEN_SETTING,
      handle: (message, transport, remote, local) => this.handle(message, transport, remote, local),
    })
  }

  async start(): Promise<void> {
    const bound = await this.server.listen(this.config.listen)
    const exposed = bound.filter((a) => !isNonPublicAddress(a.host))
    this.parts.logger.info('dns_listening', `DNS for .${this.config.domain} listening on ${bound.map((a) => formatHostPort(a.host, a.port)).join(', ')} (udp, tcp)`, {
      dns: bound.map((a) => formatHostPort(a.host, a.port)).join(','),
      domain: this.config.domain,
      apps: this.currentTable().apps.size,
    })
    if (exposed.length > 0) {
      this.parts.logger.warn(
        'dns_public',
        `DNS listens on public address ${exposed.map((a) => formatHostPort(a.host, a.port)).join(', ')}: anyone can list apps and backend addresses; prefer the WireGuard address`,
      )
    }
  }

  /** The table of the router's current snapshot, rebuilt only when the snapshot object changed. */
  currentTable(): RecordTable {
    const snapshot = this.parts.router.snapshot
    if (this.table === undefined || snapshot !== this.tableSnapshot) {
      this.serial = Math.max(this.serial + 1, Math.floor(this.now() / 1000) >>> 0)
      this.table = buildRecordTable(snapshot, {
        domain: this.config.domain,
        ttlSecs: this.config.ttlSecs,
        negativeTtlSecs: this.config.negativeTtlSecs,
        maxAnswers: this.config.maxAnswers,
        serial: this.serial,
      })
      this.tableSnapshot = snapshot
      const notes = this.table.notes.join('; ')
      if (notes !== this.lastNotes) {
        this.lastNotes = notes
        if (notes !== '') this.parts.logger.warn('dns_names_skipped', `${this.table.notes.length} DNS name(s) not served: ${notes}`)
      }
    }
    return this.table
  }

  private context(remoteAddress: string, localAddress: string): QueryContext {
    return {
      view: this.parts.router,
      remoteAddress: normalizeIp(remoteAddress),
      localAddress,
      countryOf: (ip) => this.parts.geo.country(ip),
      nowMs: this.now(),
      random: Math.random,
    }
  }

  private handle(message: Buffer, transport: Transport, remoteAddress: string, localAddress: string): Buffer | null {
    const handled = handleMessage(message, transport, this.currentTable(), this.context(remoteAddress, localAddress))
    this.parts.dnsCounters.count(handled.qtype, handled.rcode)
    if (handled.isTruncated) this.parts.dnsCounters.truncated++
    if (this.parts.logger.isDebug) {
      this.parts.logger.debug('dns_query', `${transport} ${remoteAddress} ${handled.qtype} ${handled.rcode}`, {
        transport,
        client: remoteAddress,
        qtype: handled.qtype,
        rcode: handled.rcode,
        truncated: handled.isTruncated,
      })
    }
    return handled.reply
  }

  /** What the server would answer a client at `ip` for every app (route explain). */
  explain(ip: string): ReturnType<typeof explainDns> {
    return explainDns(this.currentTable(), this.context(ip, this.server.addresses[0]?.host ?? '127.0.0.1'))
  }

  reload(): Record<string, number> {
    return {dns_apps: this.currentTable().apps.size}
  }

  stopAccepting(): void {
    this.server.stopAccepting()
  }

  close(): void {
    this.server.close()
  }

  health(): {fields: Record<string, unknown>} {
    let queries = 0
    const rcodes: Record<string, number> = {}
    for (const {rcode, queries: n} of this.parts.dnsCounters.entries()) {
      queries += n
      rcodes[rcode] = (rcodes[rcode] ?? 0) + n
    }
    return {
      fields: {
        listen: this.server.addresses.map((a: HostPort) => formatHostPort(a.host, a.port)),
        domain: this.config.domain,
        apps: this.currentTable().apps.size,
        queries,
        rcodes,
        truncated: this.parts.dnsCounters.truncated,
        tcp_connections: this.server.openConnections,
      },
    }
  }
}

/** The engine's one line: the DNS service, and its "DNS would answer" part of route explain. */
export function dnsService(parts: EngineParts, config: DnsConfig): Service {
  const service = new DnsService(parts, config)
  parts.api?.addRouteExplainer((ip) => ({dns: service.explain(ip)}))
  return service
}
