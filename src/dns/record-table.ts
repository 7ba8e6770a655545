// The DNS view of one routing snapshot: apps by DNS label, each backend with its addresses split by
// family, ids for `<id>.vm.<app>`, and an address → backend index for "nearest" queries. Built once
// per snapshot (never per query) and pure. It does not decide routability: that changes without a
// new snapshot (leases run out, checks fail, cooldowns), so answer.ts asks the router per query.
import net from 'node:net'

import type {Backend} from '../balancer/backend.js'
import {ipv6Groups, normalizeIp} from '../net/address.js'

/** An app served in DNS: lower-case letters, digits and inner hyphens (a host name label). */
const APP_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/
/** Labels the zone itself uses directly under the domain, so no app can take them. */
export const RESERVED_APP_LABELS: ReadonlySet<string> = new Set(['ns'])
/** A label of `<id>.vm.<app>`: ids are 1-64 of [A-Za-z0-9._-], dots split them into labels. */
const VM_LABEL = /^[a-z0-9_-]{1,63}$/

export interface DnsBackend {
  readonly backend: Backend
  readonly ipv4: readonly string[]
  readonly ipv6: readonly string[]
  /** `<id>.vm.<app>.<domain>` (the SRV target), or null when the id cannot be a DNS name. */
  readonly vmName: string | null
}

export interface DnsApp {
  /** The DNS label: the app name in lower case. */
  readonly label: string
  /** Backends of the app that are not deleted, by id. Routable or not is asked per query. */
  readonly backends: readonly DnsBackend[]
  /** Lower-case id → backends (ids differing only in case share a name). */
  readonly byVmId: ReadonlyMap<string, readonly DnsBackend[]>
}

export interface ZoneOptions {
  /** Lower case, no trailing dot: `internal`. */
  domain: string
  ttlSecs: number
  negativeTtlSecs: number
  /** 0 = every routable address. */
  maxAnswers: number
  /** SOA serial of this table: the caller makes it grow with every new snapshot. */
  serial: number
}

export interface RecordTable extends Readonly<ZoneOptions> {
  /** By label, in label order. */
  readonly apps: ReadonlyMap<string, DnsApp>
  /** Address key (addressKey()) → the first backend by id that has the address. */
  readonly byAddress: ReadonlyMap<string, Backend>
  /** What the snapshot holds that DNS cannot serve, and why (logged when it changes). */
  readonly notes: readonly string[]
}

/** One spelling per address, so `fd00::1` and `fd00:0::1` (and `::ffff:10.0.0.1`) match. */
export function addressKey(ip: string): string {
  const plain = normalizeIp(ip)
  if (net.isIPv4(plain)) return plain
  const groups = ipv6Groups(plain)
  return groups === null ? plain : groups.map((g) => g.toString(16)).join(':')
}

function vmName(id: string, app: string, domain: string): string | null {
  const labels = id.toLowerCase().split('.')
  if (!labels.every((l) => VM_LABEL.test(l))) return null
  const name = `${id}.vm.${app}.${domain}`
  return name.length <= 253 ? name : null
}

const byId = (a: Backend, b: Backend) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

export function buildRecordTable(snapshot: readonly Backend[], options: ZoneOptions): RecordTable {
  const notes: string[] = []
  const grouped = new Map<string, Backend[]>()
  const unservable = new Map<string, string>()
  for (const b of [...snapshot].sort(byId)) {
    const label = b.app.toLowerCase()
    if (!APP_LABEL.test(label) || RESERVED_APP_LABELS.has(label) || `${label}.${options.domain}`.length > 253) {
      unservable.set(b.app, RESERVED_APP_LABELS.has(label) ? 'a name the zone reserves' : 'not a DNS label (1-63 of a-z 0-9 and inner -)')
      continue
    }
    const list = grouped.get(label)
    if (list) list.push(b)
    else grouped.set(label, [b])
  }
  for (const [app, why] of unservable) notes.push(`app ${JSON.stringify(app)} is not served: ${why}`)

  const apps = new Map<string, DnsApp>()
  const byAddress = new Map<string, Backend>()
  for (const label of [...grouped.keys()].sort()) {
    const backends: DnsBackend[] = []
    const byVmId = new Map<string, DnsBackend[]>()
    for (const b of grouped.get(label)!) {
      const ipv4: string[] = []
      const ipv6: string[] = []
      for (const address of [b.host, b.host6 ?? '']) {
        if (address === '') continue
        const family = net.isIP(address)
        if (family === 4) ipv4.push(address)
        else if (family === 6) ipv6.push(address)
        else notes.push(`backend ${JSON.stringify(b.id)} has ${JSON.stringify(address)}, not an IP address: no A/AAAA record`)
      }
      if (b.host6 && net.isIP(b.host6) === 4) notes.push(`backend ${JSON.stringify(b.id)}: wg_ip6 ${JSON.stringify(b.host6)} is IPv4 (answered as A)`)
      const entry: DnsBackend = {backend: b, ipv4: unique(ipv4), ipv6: unique(ipv6), vmName: vmName(b.id, label, options.domain)}
      if (entry.vmName === null) notes.push(`backend ${JSON.stringify(b.id)} has no ${'<id>'}.vm name: its id is not a DNS name`)
      backends.push(entry)
      const key = b.id.toLowerCase()
      const same = byVmId.get(key)
      if (same) same.push(entry)
      else byVmId.set(key, [entry])
      for (const address of [...entry.ipv4, ...entry.ipv6]) {
        const k = addressKey(address)
        if (!byAddress.has(k)) byAddress.set(k, b)
      }
    }
    apps.set(label, {label, backends, byVmId})
  }
  return {...options, apps, byAddress, notes}
}

function unique(list: string[]): string[] {
  return list.length < 2 ? list : [...new Map(list.map((a) => [addressKey(a), a])).values()]
}
