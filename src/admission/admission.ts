// Per-client admission at accept (after a trusted PROXY header, before any TLS handshake): a token
// bucket of new connections and a cap on open connections per client key, exempt CIDRs, and a dry
// run that counts and logs what it would refuse. A refused connection is closed by the caller at
// once, before anything is dialled. The state lives in a client table in shared memory, so every
// worker of a process admits exactly what one would. Log lines are sampled: at most one per second
// per reason per worker, and one per 10 s over every worker for a full table.
import type {Logger} from '../log/logger.js'
import {sharedNow} from '../workers/shared-memory.js'
import {ClientKeys, hashKeyWords, KEY_EXEMPT, type KeyPrefixes} from './client-key.js'
import {ClientTable} from './client-table.js'
import {refilled, type BucketOptions} from './token-bucket.js'

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

/** `table_full`: a new client key, and every entry of the client table it may use holds a client with open connections. */
export type Refusal = 'rate_limited' | 'too_many_connections' | 'table_full'

/** What admit() returns for a refused connection; an exempt one gets UNCOUNTED (nothing to release). */
export const REFUSED = -2
export const UNCOUNTED = -1
/** Seconds between two `admission_table_full` lines over every worker. */
const FULL_LOG_SECS = 10

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

export class Admission {
  /** Why the last admit() returned REFUSED (or, in a dry run, what it would have refused). */
  lastRefusal: Refusal | null = null
  readonly table: ClientTable
  readonly keys: ClientKeys
  private readonly bucket?: BucketOptions
  private readonly initialTokens: number
  /** The key of the address being admitted (reused: admit() allocates nothing). */
  private readonly key = new Int32Array(4)
  // Log sampling per reason, kept as plain fields so a refused connection allocates nothing.
  private lastLogRateMs = -Infinity
  private lastLogConcurrencyMs = -Infinity
  private suppressedRate = 0
  private suppressedConcurrency = 0

  /** `buffer`: the client table of another thread of this process (a worker gets the control plane's). */
  constructor(
    readonly config: AdmissionConfig,
    private readonly logger: Logger,
    private readonly now: () => number = sharedNow,
    buffer?: SharedArrayBuffer,
  ) {
    if (config.rate) this.bucket = {refillPerMs: config.rate.perSecond / 1000, burst: config.rate.burst}
    this.initialTokens = config.rate?.burst ?? 0
    this.table = new ClientTable(config.maxEntries, buffer)
    this.keys = new ClientKeys(config.prefixes, config.exempt)
  }

  /** Connections a dry run let through that would have been refused (every worker's). */
  get dryRunWouldRefuse(): number {
    return this.table.dryRunWouldRefuse
  }

  /**
   * Admits a new connection from `ip`: the entry to release() when it closes (UNCOUNTED for an
   * exempt client), or REFUSED (lastRefusal says why; the caller closes the connection and dials nothing).
   */
  admit(ip: string): number {
    const config = this.config
    const key = this.key
    const kind = this.keys.keyWordsInto(ip, key)
    if (kind === KEY_EXEMPT) return UNCOUNTED
    const now = this.now()
    const table = this.table
    const e = table.lock(kind, hashKeyWords(kind, key), key, now, this.initialTokens)
    if (e < 0) {
      this.lastRefusal = 'table_full'
      if (table.claimFullLog(now, FULL_LOG_SECS)) {
        this.logger.warn(
          'admission_table_full',
          `refused a connection from ${this.keys.keyOf(ip)}: a new client, and every entry of the admission table it may use holds a client with open connections (EDGEPROXY_RATE_LIMIT_MAX_ENTRIES=${config.maxEntries}); logged at most once per ${FULL_LOG_SECS} s`,
          {client: ip, reason: 'table_full', max_entries: config.maxEntries, keys: table.size},
        )
      }
      if (!config.isDryRun) return REFUSED
      table.countDryRun()
      return UNCOUNTED
    }
    let refusal: Refusal | null = null
    const open = table.open(e)
    if (config.maxConnsPerKey > 0 && open >= config.maxConnsPerKey) refusal = 'too_many_connections'
    else if (this.bucket !== undefined) {
      const tokens = refilled(table.tokens(e), table.countedAt(e), now, this.bucket)
      if (tokens < 1) {
        table.setTokens(e, tokens, now)
        refusal = 'rate_limited'
      } else table.setTokens(e, tokens - 1, now)
    }
    if (refusal === null || config.isDryRun) table.opened(e)
    table.unlock(e)
    if (refusal === null) return e
    this.lastRefusal = refusal
    this.sampleLog(refusal, ip, open, now)
    if (!config.isDryRun) return REFUSED
    table.countDryRun()
    return e
  }

  /** At most one line per second per reason, with how many were not logged since the last one. */
  private sampleLog(refusal: Refusal, ip: string, open: number, now: number): void {
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
    const key = this.keys.keyOf(ip) ?? ip
    this.logger.warn(
      isRate ? 'client_rate_limited' : 'client_too_many_connections',
      `${dryRun ? 'dry run: would refuse' : 'refused'} a connection from ${key} (${isRate ? 'no token left in its bucket' : `${open} connections open`})`,
      {key, client: ip, reason: refusal, connections: open, dry_run: dryRun, suppressed},
    )
  }

  /** The connection admitted with entry `e` (admit()'s answer, when not UNCOUNTED) closed. */
  release(e: number): void {
    this.table.release(e)
  }

  /** The limits of one client address as of now; changes nothing. */
  describe(ip: string): ClientLimitsJson {
    const c = this.config
    const {key, isExempt} = this.keys.describe(ip)
    const words = new Int32Array(4)
    const kind = this.keys.keyWordsInto(ip, words, false)
    const e = this.table.find(kind, hashKeyWords(kind, words), words)
    let tokens: number | null = null
    if (this.bucket !== undefined) {
      tokens = e < 0 ? this.bucket.burst : Math.floor(refilled(this.table.tokens(e), this.table.countedAt(e), this.now(), this.bucket) * 100) / 100
    }
    return {
      ip,
      key,
      enabled: true,
      exempt: isExempt,
      dry_run: c.isDryRun,
      tracked: e >= 0,
      tokens,
      burst: c.rate?.burst ?? null,
      refill_per_sec: c.rate?.perSecond ?? null,
      connections: e < 0 ? 0 : this.table.open(e),
      max_connections: c.maxConnsPerKey > 0 ? c.maxConnsPerKey : null,
    }
  }
}
