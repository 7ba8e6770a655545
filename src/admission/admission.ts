// Per-client admission at accept (after a trusted PROXY header, before any TLS handshake): a token
// bucket of new connections and a cap on open connections per client key, exempt CIDRs, and a dry
// run that counts and logs what it would refuse. A refused connection is closed by the caller at
// once, before anything is dialled. Log lines are sampled: at most one per second per reason.
import type {Logger} from '../log/logger.js'
import {ClientKeys, type KeyPrefixes} from './client-key.js'
import {ClientTable, refill, takeToken, type BucketOptions, type ClientEntry} from './client-table.js'

export interface AdmissionConfig {
  /** Token bucket per key; undefined = no rate limit. */
  rate?: {perSecond: number; burst: number}
  /** Open connections per key; 0 = no cap. */
  maxConnsPerKey: number
  prefixes: KeyPrefixes
  /** CIDR list (validated): EDGEPROXY_RATE_LIMIT_EXEMPT. */
  exempt: string
  isDryRun: boolean
  maxEntries: number
}

export type Refusal = 'rate_limited' | 'too_many_connections'

/** What the API and `route explain` show for one client address. */
export interface ClientLimitsJson {
  ip: string
  key: string
  enabled: boolean
  exempt: boolean
  dry_run: boolean
  /** Whether the key is in the table (it has connected recently). */
  tracked: boolean
  /** Tokens as of now (a key not tracked has a full bucket); null without a rate limit. */
  tokens: number | null
  burst: number | null
  refill_per_sec: number | null
  connections: number
  max_connections: number | null
}

/** Handed out for exempt clients: release() ignores it. */
const EXEMPT: ClientEntry = Object.freeze({key: '', tokens: 0, refilledAtMs: 0, active: 0, older: null, newer: null}) as ClientEntry

export class Admission {
  /** Would have been refused, but the dry run let them through (read at scrape time; refusals are ProxyStats'). */
  dryRunWouldRefuse = 0
  /** Why the last admit() returned null (or, in a dry run, what it would have refused). */
  lastRefusal: Refusal | null = null
  readonly table: ClientTable
  readonly keys: ClientKeys
  private readonly bucket?: BucketOptions
  // Log sampling per reason, kept as plain fields so a refused connection allocates nothing.
  private lastLogRateMs = -Infinity
  private lastLogConcurrencyMs = -Infinity
  private suppressedRate = 0
  private suppressedConcurrency = 0

  constructor(
    readonly config: AdmissionConfig,
    private readonly logger: Logger,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (config.rate) this.bucket = {refillPerMs: config.rate.perSecond / 1000, burst: config.rate.burst}
    this.table = new ClientTable({maxEntries: config.maxEntries, initialTokens: config.rate?.burst ?? 0, now})
    this.keys = new ClientKeys(config.prefixes, config.exempt)
  }

  /**
   * Admits a new connection from `ip`: the entry to release() when it closes, or null when refused
   * (lastRefusal says why; the caller closes the connection and dials nothing).
   */
  admit(ip: string): ClientEntry | null {
    const config = this.config
    const key = this.keys.keyOf(ip)
    if (key === null) return EXEMPT
    const entry = this.table.get(key)
    let refusal: Refusal | null = null
    if (config.maxConnsPerKey > 0 && entry.active >= config.maxConnsPerKey) refusal = 'too_many_connections'
    else if (this.bucket !== undefined && !takeToken(entry, this.now(), this.bucket)) refusal = 'rate_limited'
    if (refusal === null) {
      entry.active++
      return entry
    }
    this.lastRefusal = refusal
    if (config.isDryRun) {
      this.dryRunWouldRefuse++
      this.sampleLog(refusal, entry, ip)
      entry.active++
      return entry
    }
    this.sampleLog(refusal, entry, ip)
    return null
  }

  /** At most one line per second per reason, with how many were not logged since the last one. */
  private sampleLog(refusal: Refusal, entry: ClientEntry, ip: string): void {
    const now = this.now()
    const isRate = refusal === 'rate_limited'
    if (now - (isRate ? this.lastLogRateMs : this.lastLogConcurrencyMs) < 1000) {
      if (isRate) this.suppressedRate++
      else this.suppressedConcurrency++
      return
    }
    const suppressed = isRate ? this.suppressedRate : this.suppressedConcurrency
    if (isRate) {
      this.lastLogRateMs = now
      this.suppressedRate = 0
    } else {
      this.lastLogConcurrencyMs = now
      this.suppressedConcurrency = 0
    }
    const dryRun = this.config.isDryRun
    this.logger.warn(
      isRate ? 'client_rate_limited' : 'client_too_many_connections',
      `${dryRun ? 'dry run: would refuse' : 'refused'} a connection from ${entry.key} (${isRate ? 'no token left in its bucket' : `${entry.active} connections open`})`,
      {key: entry.key, client: ip, reason: refusal, connections: entry.active, dry_run: dryRun, suppressed},
    )
  }

  /** The connection admitted with `entry` closed. */
  release(entry: ClientEntry): void {
    if (entry.active > 0) entry.active--
  }

  /** The limits of one client address as of now; changes nothing. */
  describe(ip: string): ClientLimitsJson {
    const c = this.config
    const {key, isExempt} = this.keys.describe(ip)
    const entry = this.table.peek(key)
    let tokens: number | null = null
    if (this.bucket !== undefined) {
      if (entry === undefined) tokens = this.bucket.burst
      else {
        const copy = {...entry, older: null, newer: null}
        refill(copy, this.now(), this.bucket)
        tokens = Math.floor(copy.tokens * 100) / 100
      }
    }
    return {
      ip,
      key,
      enabled: true,
      exempt: isExempt,
      dry_run: c.isDryRun,
      tracked: entry !== undefined,
      tokens,
      burst: c.rate?.burst ?? null,
      refill_per_sec: c.rate?.perSecond ?? null,
      connections: entry?.active ?? 0,
      max_connections: c.maxConnsPerKey > 0 ? c.maxConnsPerKey : null,
    }
  }
}
