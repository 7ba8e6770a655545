// What the server answers, as a pure function of a decoded query, the record table of the current
// snapshot and the live routing view: answer(query, table, ctx) → response packet. No sockets, no
// clock or randomness of its own (both come in ctx), so every name, type and rcode is unit-tested.
// Routability is the router's own answer (Router.isRoutable) and "nearest" its own scoring.
import type {Answer, OptAnswer, Packet, Question, StringAnswer} from 'dns-packet'

import type {Backend} from '../balancer/backend.js'
import {regionForCountry} from '../balancer/regions.js'
import {effectiveWeight, geoScore, rankBackends, type ClientGeo} from '../balancer/select.js'
import {addressKey, type DnsApp, type DnsBackend, type RecordTable} from './record-table.js'

export const RCODE = {NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16} as const
export type RcodeName = keyof typeof RCODE

export const FLAG_AA = 1 << 10
export const FLAG_TC = 1 << 9
export const FLAG_RD = 1 << 8
export const FLAG_CD = 1 << 4
/** Plain DNS over UDP (RFC 1035), and the EDNS0 size everyone agreed on (DNS flag day 2020). */
export const MIN_UDP_PAYLOAD = 512
export const MAX_UDP_PAYLOAD = 1232
/** `top<N>.nearest.of.<app>`: N from 1 to this. */
export const MAX_NEAREST = 16
const SOA_REFRESH_SECS = 3600
const SOA_RETRY_SECS = 600
const SOA_EXPIRE_SECS = 86_400

/** The live routing state answers depend on; the Router provides it. */
export interface RoutingView {
  readonly localRegion: string
  /** Whether this POP would send new traffic to the backend (health, lease, drain, checks, circuit). */
  isRoutable(backend: Backend): boolean
  activeConnections(id: string): number
}

export interface QueryContext {
  readonly view: RoutingView
  /** Source address of the query: a backend's own address, a public address or anything else. */
  readonly remoteAddress: string
  /** Address the query arrived on (what `ns.<domain>` answers). */
  readonly localAddress: string
  /** GeoIP: the country of a public address, null otherwise. */
  readonly countryOf: (ip: string) => string | null
  readonly nowMs: number
  /** A number in [0, 1): shuffles answers. */
  readonly random: () => number
}

export interface Response {
  packet: Packet
  rcode: RcodeName
  /** The asked type for counters: a known name or OTHER, so metrics labels stay few. */
  qtype: string
  /** Largest UDP reply this client takes: 512, or its EDNS0 size capped at 1232. */
  udpLimit: number
}

const COUNTED_TYPES = new Set(['A', 'AAAA', 'SRV', 'TXT', 'SOA', 'NS', 'ANY', 'CNAME', 'PTR', 'MX', 'AXFR', 'IXFR'])
const TYPE_ALIASES: Record<string, string> = {UNKNOWN_64: 'SVCB', UNKNOWN_65: 'HTTPS'}

export function countedType(type: string | undefined): string {
  if (type === undefined) return 'NONE'
  const t = TYPE_ALIASES[type] ?? type
  return COUNTED_TYPES.has(t) || t === 'SVCB' || t === 'HTTPS' ? t : 'OTHER'
}

/** What a name resolves to before the type is applied: a refusal, no such name, or records (none = NODATA). */
type Resolution = {kind: 'refused'} | {kind: 'nxdomain'} | {kind: 'records'; answers: Answer[]; additionals?: Answer[]}

const REFUSED: Resolution = {kind: 'refused'}
const NXDOMAIN: Resolution = {kind: 'nxdomain'}
const NODATA: Resolution = {kind: 'records', answers: []}
const records = (answers: Answer[], additionals?: Answer[]): Resolution => ({kind: 'records', answers, additionals})

export function answer(query: Packet, table: RecordTable, ctx: QueryContext): Response {
  const question: Question | undefined = query.questions?.length === 1 ? query.questions[0] : undefined
  const qtype = countedType(question?.type)
  const opts = (query.additionals ?? []).filter((a): a is OptAnswer => a.type === 'OPT')
  const opt = opts[0]
  const udpLimit = opt === undefined ? MIN_UDP_PAYLOAD : Math.min(MAX_UDP_PAYLOAD, Math.max(MIN_UDP_PAYLOAD, opt.udpPayloadSize))
  const reply = (rcode: RcodeName, isAuthoritative: boolean, body: Partial<Pick<Packet, 'answers' | 'authorities' | 'additionals'>> = {}): Response => {
    const flags = ((query.flags ?? 0) & ((0xf << 11) | FLAG_RD | FLAG_CD)) | (isAuthoritative ? FLAG_AA : 0) | (RCODE[rcode] & 0xf)
    const additionals = [...(body.additionals ?? [])]
    if (opt !== undefined) additionals.push(optRecord(RCODE[rcode] >> 4))
    return {
      packet: {
        type: 'response',
        id: query.id ?? 0,
        flags,
        questions: question === undefined ? [] : [question],
        answers: body.answers ?? [],
        authorities: body.authorities ?? [],
        additionals,
      },
      rcode,
      qtype,
      udpLimit,
    }
  }

  const opcode = ((query.flags ?? 0) >> 11) & 0xf
  if (opcode !== 0) return reply('NOTIMP', false)
  if (question === undefined || opts.length > 1) return reply('FORMERR', false)
  if (opt !== undefined && opt.ednsVersion !== 0) return reply('BADVERS', false)
  if (question.class !== 'IN' && question.class !== 'ANY') return reply('REFUSED', false)

  const resolution = resolve(question, table, ctx)
  if (resolution.kind === 'refused') return reply('REFUSED', false)
  const negative = {authorities: [soaRecord(table, table.negativeTtlSecs)]}
  if (resolution.kind === 'nxdomain') return reply('NXDOMAIN', true, negative)
  if (resolution.answers.length === 0) return reply('NOERROR', true, negative)
  return reply('NOERROR', true, {answers: resolution.answers, additionals: resolution.additionals})
}

/** Lower-case labels of a name below the domain; null when the name is outside it. */
export function relativeLabels(name: string, domain: string): string[] | null {
  const n = name.toLowerCase().replace(/\.$/, '')
  if (n === domain) return []
  if (!n.endsWith(`.${domain}`)) return null
  return n.slice(0, -domain.length - 1).split('.')
}

function resolve(q: Question, table: RecordTable, ctx: QueryContext): Resolution {
  const labels = relativeLabels(q.name, table.domain)
  if (labels === null) return REFUSED
  // Zone transfers are not offered (RFC 5936: refuse them).
  if (q.type === 'AXFR' || q.type === 'IXFR') return REFUSED
  // A string: the codec's types omit ANY (255), which it does decode.
  const type: string = q.type
  if (labels.length === 0) {
    const soa = {...soaRecord(table, table.ttlSecs), name: q.name}
    const ns: StringAnswer = {name: q.name, type: 'NS', ttl: table.ttlSecs, data: `ns.${table.domain}`}
    if (type === 'SOA') return records([soa])
    if (type === 'NS') return records([ns])
    if (type === 'ANY') return records([soa, ns])
    return NODATA
  }
  const first = labels[0]
  if (labels.length === 1) {
    if (first === '_apps') {
      const live = liveApps(table, ctx)
      if (type !== 'TXT' && type !== 'ANY') return NODATA
      return live.length === 0 ? NODATA : records([txtRecord(q.name, live.join(','), table.ttlSecs)])
    }
    if (first === 'ns') return records(addressRecords(q.name, type, [{ipv4: familyOf(ctx.localAddress, 4), ipv6: familyOf(ctx.localAddress, 6)}], table.ttlSecs))
    if (first === '_tcp') return liveApps(table, ctx).length > 0 ? NODATA : NXDOMAIN
    const app = routable(table.apps.get(first), ctx)
    if (app === null) return NXDOMAIN
    if (type === 'SRV') return srvRecords(q.name, app.backends, table, ctx)
    return records(limit(addressRecords(q.name, type, shuffle(app.backends, ctx.random), table.ttlSecs), table.maxAnswers))
  }
  if (labels.length === 2) {
    const [kind, appLabel] = labels
    if (appLabel === '_tcp') {
      if (!kind.startsWith('_')) return NXDOMAIN
      const app = routable(table.apps.get(kind.slice(1)), ctx)
      if (app === null) return NXDOMAIN
      return type === 'SRV' || type === 'ANY' ? srvRecords(q.name, app.backends, table, ctx) : NODATA
    }
    const app = routable(table.apps.get(appLabel), ctx)
    if (app === null) return NXDOMAIN
    switch (kind) {
      case 'global':
        return records(limit(addressRecords(q.name, type, shuffle(app.backends, ctx.random), table.ttlSecs), table.maxAnswers))
      case 'regions': {
        if (type !== 'TXT' && type !== 'ANY') return NODATA
        const regions = [...new Set(app.backends.map((b) => b.backend.region))].sort()
        return records([txtRecord(q.name, regions.join(','), table.ttlSecs)])
      }
      case 'vms': {
        if (type !== 'TXT' && type !== 'ANY') return NODATA
        return records([txtRecord(q.name, app.backends.map((b) => `${b.backend.id} ${b.backend.region}`).join(','), table.ttlSecs)])
      }
      case 'vm':
      case 'of':
        // Empty non-terminals: names exist below them, so they are NODATA, not NXDOMAIN (RFC 8020).
        return NODATA
      default: {
        const inRegion = app.backends.filter((b) => b.backend.region === kind)
        if (inRegion.length === 0) return NXDOMAIN
        return records(limit(addressRecords(q.name, type, shuffle(inRegion, ctx.random), table.ttlSecs), table.maxAnswers))
      }
    }
  }
  const appLabel = labels[labels.length - 1]
  const app = table.apps.get(appLabel)
  if (labels.length >= 3 && labels[labels.length - 2] === 'vm') {
    const live = routable(app, ctx)
    if (live === null) return NXDOMAIN
    const id = labels.slice(0, -2).join('.')
    const same = app!.byVmId.get(id)
    if (same === undefined) return NXDOMAIN
    // A known backend that takes no traffic now (drained, unhealthy, expired): the name exists, no address.
    const usable = same.filter((b) => ctx.view.isRoutable(b.backend))
    return records(addressRecords(q.name, type, usable, table.ttlSecs))
  }
  if (labels.length === 3 && labels[0] === 'nearest' && labels[1] === 'of') return routable(app, ctx) === null ? NXDOMAIN : NODATA
  if (labels.length === 4 && labels[1] === 'nearest' && labels[2] === 'of') {
    const match = /^top([1-9]\d?)$/.exec(labels[0])
    const n = match === null ? 0 : Number(match[1])
    if (n < 1 || n > MAX_NEAREST) return NXDOMAIN
    const live = routable(app, ctx)
    if (live === null) return NXDOMAIN
    return records(addressRecords(q.name, type, nearest(live.backends, type, n, table, ctx), table.ttlSecs))
  }
  return NXDOMAIN
}

/** The app with only its routable backends, or null when it has none (the app then does not exist in DNS). */
function routable(app: DnsApp | undefined, ctx: QueryContext): {backends: DnsBackend[]} | null {
  if (app === undefined) return null
  const backends = app.backends.filter((b) => ctx.view.isRoutable(b.backend))
  return backends.length === 0 ? null : {backends}
}

function liveApps(table: RecordTable, ctx: QueryContext): string[] {
  const live: string[] = []
  for (const app of table.apps.values()) if (app.backends.some((b) => ctx.view.isRoutable(b.backend))) live.push(app.label)
  return live
}

/**
 * The querier's geo, as the balancer would see it: a registered backend's own address gives that
 * backend's country and region; a public address its GeoIP country; anything else no country, so
 * this POP's region ranks first.
 */
export function querierGeo(table: RecordTable, ctx: Pick<QueryContext, 'remoteAddress' | 'countryOf'>): ClientGeo {
  const own = table.byAddress.get(addressKey(ctx.remoteAddress))
  if (own !== undefined) return {country: own.country === '' ? null : own.country, region: own.region === '' ? null : own.region}
  const country = ctx.countryOf(ctx.remoteAddress)
  return {country, region: country === null ? null : regionForCountry(country)}
}

/** The n best backends for the querier by the balancer's own ranking, among those with an address of the asked family. */
function nearest(backends: DnsBackend[], type: string, n: number, table: RecordTable, ctx: QueryContext): DnsBackend[] {
  const candidates = backends.filter((b) => (type === 'A' ? b.ipv4.length > 0 : type === 'AAAA' ? b.ipv6.length > 0 : true))
  const byBackend = new Map(candidates.map((b) => [b.backend, b]))
  const ranked = rankBackends(
    candidates.map((b) => b.backend),
    {
      client: querierGeo(table, ctx),
      localRegion: ctx.view.localRegion,
      nowMs: ctx.nowMs,
      activeConnections: (b) => ctx.view.activeConnections(b.id),
    },
  )
  return ranked.slice(0, n).map((r) => byBackend.get(r.backend)!)
}

function srvRecords(name: string, backends: DnsBackend[], table: RecordTable, ctx: QueryContext): Resolution {
  const client = querierGeo(table, ctx)
  const withTier = shuffle(backends, ctx.random)
    .filter((b) => b.vmName !== null)
    .map((b) => ({b, priority: geoScore(b.backend, client, ctx.view.localRegion)}))
    .sort((x, y) => x.priority - y.priority)
  const chosen = table.maxAnswers > 0 ? withTier.slice(0, table.maxAnswers) : withTier
  const answers: Answer[] = chosen.map(({b, priority}) => ({
    name,
    type: 'SRV',
    ttl: table.ttlSecs,
    data: {priority, weight: Math.min(65_535, effectiveWeight(b.backend.weight)), port: b.backend.port, target: b.vmName!},
  }))
  const additionals = chosen.flatMap(({b}) => addressRecords(b.vmName!, 'ANY', [b], table.ttlSecs))
  return records(answers, additionals)
}

function addressRecords(name: string, type: string, backends: readonly Pick<DnsBackend, 'ipv4' | 'ipv6'>[], ttl: number): Answer[] {
  const out: Answer[] = []
  const wantsA = type === 'A' || type === 'ANY'
  const wantsAaaa = type === 'AAAA' || type === 'ANY'
  if (wantsA) for (const b of backends) for (const ip of b.ipv4) out.push({name, type: 'A', ttl, data: ip})
  if (wantsAaaa) for (const b of backends) for (const ip of b.ipv6) out.push({name, type: 'AAAA', ttl, data: ip})
  return out
}

function familyOf(address: string, family: 4 | 6): string[] {
  const isV6 = address.includes(':')
  return (family === 6) === isV6 ? [address] : []
}

function limit(list: Answer[], max: number): Answer[] {
  return max > 0 && list.length > max ? list.slice(0, max) : list
}

/** Fisher-Yates on a copy: clients often use only the first address, so every answer order differs. */
function shuffle<T>(list: readonly T[], random: () => number): T[] {
  const out = [...list]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const t = out[i]
    out[i] = out[j]
    out[j] = t
  }
  return out
}

/** TXT data in strings of at most 255 bytes (one record; clients join the strings). */
function txtRecord(name: string, text: string, ttl: number): Answer {
  const bytes = Buffer.from(text)
  const chunks: Buffer[] = []
  for (let i = 0; i < bytes.length; i += 255) chunks.push(bytes.subarray(i, i + 255))
  return {name, type: 'TXT', ttl, data: chunks.length === 0 ? [Buffer.alloc(0)] : chunks}
}

function soaRecord(table: RecordTable, ttl: number): Answer {
  return {
    name: table.domain,
    type: 'SOA',
    ttl,
    data: {
      mname: `ns.${table.domain}`,
      rname: `hostmaster.${table.domain}`,
      serial: table.serial,
      refresh: SOA_REFRESH_SECS,
      retry: SOA_RETRY_SECS,
      expire: SOA_EXPIRE_SECS,
      minimum: table.negativeTtlSecs,
    },
  }
}

function optRecord(extendedRcode: number): OptAnswer {
  return {name: '.', type: 'OPT', udpPayloadSize: MAX_UDP_PAYLOAD, extendedRcode, ednsVersion: 0, flags: 0, flag_do: false, options: []}
}
