// The settings of the internal DNS server (`<app>.internal`) and their typed config. Spread into
// START_SETTINGS by src/config/start-config.ts; nothing here knows about sockets or records.
import net from 'node:net'

import {setting, type Setting, type SettingValues} from '../config/settings.js'
import {formatHostPort, parseHostPort, type HostPort} from '../net/address.js'

const DNS = 'INTERNAL DNS'
export const DNS_LISTEN_SETTING = '--dns-listen (EDGEPROXY_DNS_LISTEN_ADDR)'
export const DEFAULT_DNS_PORT = 5353

/** A DNS label of the domain: letters, digits, hyphens (and underscores), 1-63 characters. */
const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/

/** `internal`, `edge.internal`: lower case, no leading or trailing dot, never the root. */
export function parseDnsDomain(text: string): string {
  const domain = text.trim().toLowerCase().replace(/\.$/, '')
  if (domain === '' || domain === '.') throw new Error('the domain cannot be empty or the root: the server would answer for every name')
  if (domain.length > 200) throw new Error('longer than 200 characters')
  for (const label of domain.split('.')) {
    if (!LABEL.test(label)) throw new Error(`label ${JSON.stringify(label)} is not a DNS label (1-63 of a-z 0-9 - _)`)
  }
  return domain
}

/**
 * `127.0.0.1:5353,[fd00::3]:5353`: IP literals only and no wildcard, because each address gets its own
 * UDP socket so a reply leaves from the address the query was sent to (a wildcard socket answers
 * from whatever address routing picks, and resolvers drop that reply).
 */
export function parseDnsListen(text: string): HostPort[] {
  const entries = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  if (entries.length === 0) throw new Error('no address')
  const seen = new Set<string>()
  return entries.map((entry) => {
    const address = parseHostPort(entry)
    if (net.isIP(address.host) === 0) throw new Error(`${JSON.stringify(address.host)} is not an IP address literal`)
    if (address.host === '0.0.0.0' || address.host === '::') {
      throw new Error(`${entry} is a wildcard: list each address instead (replies must leave from the address a query came to)`)
    }
    const key = formatHostPort(address.host, address.port)
    if (seen.has(key)) throw new Error(`${key} is listed twice`)
    seen.add(key)
    return address
  })
}

export const DNS_SETTINGS = {
  dnsEnabled: setting.boolean({
    flag: 'dns',
    env: 'EDGEPROXY_DNS_ENABLED',
    default: 'false',
    summary: 'Serve internal DNS (myapp.internal: A, AAAA, SRV, TXT) from the routing table over UDP and TCP',
    group: DNS,
  }),
  dnsListen: {
    flag: 'dns-listen',
    env: 'EDGEPROXY_DNS_LISTEN_ADDR',
    default: `127.0.0.1:${DEFAULT_DNS_PORT}`,
    summary: 'Addresses the DNS server listens on, UDP and TCP, comma-separated (IP literals, no 0.0.0.0 or [::])',
    group: DNS,
    kind: 'address',
    parse: parseDnsListen,
    hint: 'a comma-separated list of IP:port, for example 127.0.0.1:5353,[fd00::3]:5353',
  } satisfies Setting<HostPort[]>,
  dnsDomain: setting.string({
    flag: 'dns-domain',
    env: 'EDGEPROXY_DNS_DOMAIN',
    default: 'internal',
    summary: 'Domain the DNS server is authoritative for; other names are refused',
    group: DNS,
    hint: 'a domain such as internal or edge.internal',
    parse: parseDnsDomain,
  }),
  dnsTtlSecs: setting.integer({
    flag: 'dns-ttl-secs',
    env: 'EDGEPROXY_DNS_TTL_SECS',
    default: '5',
    min: 0,
    max: 3600,
    summary: 'TTL of every DNS answer',
    group: DNS,
  }),
  dnsNegativeTtlSecs: setting.integer({
    flag: 'dns-negative-ttl-secs',
    env: 'EDGEPROXY_DNS_NEGATIVE_TTL_SECS',
    default: '5',
    min: 0,
    max: 3600,
    summary: 'How long resolvers may cache a "no such name" or "no such record" answer (the SOA minimum)',
    group: DNS,
  }),
  dnsMaxAnswers: setting.integer({
    flag: 'dns-max-answers',
    env: 'EDGEPROXY_DNS_MAX_ANSWERS',
    default: '0',
    min: 0,
    max: 1000,
    summary: 'Most addresses in one answer, picked at random from the routable ones; 0 = all',
    group: DNS,
  }),
} satisfies Record<string, Setting<unknown>>

export interface DnsConfig {
  listen: HostPort[]
  domain: string
  ttlSecs: number
  negativeTtlSecs: number
  /** 0 = no limit. */
  maxAnswers: number
}

/** The DNS part of StartConfig; undefined when DNS is off. */
export function resolveDnsConfig(v: SettingValues<typeof DNS_SETTINGS>): DnsConfig | undefined {
  if (!v.dnsEnabled) return undefined
  return {
    listen: v.dnsListen!,
    domain: v.dnsDomain!,
    ttlSecs: v.dnsTtlSecs!,
    negativeTtlSecs: v.dnsNegativeTtlSecs!,
    maxAnswers: v.dnsMaxAnswers!,
  }
}
