// "DNS would answer": for `route explain`, what the DNS server answers a client at an address for
// each app, computed by the same answer() the server runs, so the two can never disagree.
import type {RecordType} from 'dns-packet'

import {answer, type QueryContext} from './answer.js'
import type {RecordTable} from './record-table.js'

export interface DnsAppExplanation {
  app: string
  /** `<app>.<domain>`. */
  name: string
  /** NOERROR or NXDOMAIN (no routable backend). */
  rcode: string
  /** Every A and AAAA of the name, sorted (the server shuffles them per query). */
  addresses: string[]
  /** `top1.nearest.of.<app>.<domain>`. */
  nearest_name: string
  /** The address(es) of the best backend for this client, as the balancer ranks it. */
  nearest: string[]
}

export interface DnsExplanation {
  domain: string
  apps: DnsAppExplanation[]
}

function addressesOf(name: string, table: RecordTable, ctx: QueryContext): {rcode: string; addresses: string[]} {
  const response = answer({id: 0, flags: 0, type: 'query', questions: [{name, type: 'ANY' as RecordType, class: 'IN'}]}, table, ctx)
  const addresses = (response.packet.answers ?? []).flatMap((a) => (a.type === 'A' || a.type === 'AAAA' ? [a.data] : []))
  return {rcode: response.rcode, addresses}
}

export function explainDns(table: RecordTable, ctx: QueryContext): DnsExplanation {
  const apps: DnsAppExplanation[] = []
  for (const label of table.apps.keys()) {
    const name = `${label}.${table.domain}`
    const all = addressesOf(name, table, ctx)
    const nearestName = `top1.nearest.of.${label}.${table.domain}`
    apps.push({
      app: label,
      name,
      rcode: all.rcode,
      addresses: [...all.addresses].sort(),
      nearest_name: nearestName,
      nearest: addressesOf(nearestName, table, ctx).addresses,
    })
  }
  return {domain: table.domain, apps}
}
