// The base of every `edgeproxy backend …` and `route …` command: where to send operations (a
// running proxy's API, or a routing store with --db / --corrosion-url) and how to reach it.
import {Flags} from '@oclif/core'

import {REGIONS} from '../balancer/regions.js'
import {DEFAULT_API_URL, type BackendClient} from '../discovery/backend-client.js'
import {ApiBackendClient} from '../discovery/api-client.js'
import {ConfigError} from '../errors.js'
import {apiUrlOf} from './api-url.js'
import type {Io} from './backend-actions.js'
import {BaseCommand} from './base-command.js'
import {parseHttpUrl} from './url.js'

export const apiFlags = {
  'api-url': Flags.string({
    summary: `URL of the running proxy's Auto-Discovery API [default: ${DEFAULT_API_URL}]`,
    env: 'EDGEPROXY_API_URL',
    helpValue: 'URL',
    helpGroup: 'CONNECTION',
  }),
  token: Flags.string({
    summary: 'Bearer token of the API (the proxy\'s EDGEPROXY_API_TOKEN); prefer the variable',
    env: 'EDGEPROXY_API_TOKEN',
    helpValue: 'TOKEN',
    helpGroup: 'CONNECTION',
  }),
}

export const storeFlags = {
  ...apiFlags,
  db: Flags.string({
    summary: 'Work on this SQLite routing store directly instead of through a running proxy (no API needed; wins over --api-url and --corrosion-url)',
    helpValue: 'PATH',
    helpGroup: 'CONNECTION',
  }),
  'corrosion-url': Flags.string({
    summary: "Work on a Corrosion agent's routing table directly (replicated to every POP) instead of through a running proxy",
    helpValue: 'URL',
    helpGroup: 'CONNECTION',
  }),
  'corrosion-token': Flags.string({
    summary: "Bearer token of the Corrosion agent's api.authz; prefer the variable",
    env: 'EDGEPROXY_CORROSION_TOKEN',
    helpValue: 'TOKEN',
    helpGroup: 'CONNECTION',
  }),
  'heartbeat-ttl-secs': Flags.string({
    summary: 'With --db or --corrosion-url: the lease a register or heartbeat gives, as the proxies\' EDGEPROXY_HEARTBEAT_TTL_SECS [default: 60]',
    env: 'EDGEPROXY_HEARTBEAT_TTL_SECS',
    helpValue: 'SECS',
    helpGroup: 'CONNECTION',
  }),
}

export interface ConnectionFlags {
  'api-url'?: string
  token?: string
  db?: string
  'corrosion-url'?: string
  'corrosion-token'?: string
  'heartbeat-ttl-secs'?: string
}

export abstract class BackendCommand extends BaseCommand {
  private opened?: BackendClient

  /** The client for the parsed connection flags; closed when the command finishes. */
  protected async client(flags: ConnectionFlags): Promise<BackendClient> {
    if (flags.db !== undefined || flags['corrosion-url'] !== undefined) {
      let ttl = 60
      if (flags['heartbeat-ttl-secs'] !== undefined) {
        // Loaded here only: the API path of the commands stays free of the engine's config.
        const {START_SETTINGS} = await import('../config/start-config.js')
        try {
          ttl = START_SETTINGS.heartbeatTtlSecs.parse(flags['heartbeat-ttl-secs'])
        } catch (error) {
          throw new ConfigError(`invalid --heartbeat-ttl-secs ${JSON.stringify(flags['heartbeat-ttl-secs'])}: ${(error as Error).message}`, {
            field: '--heartbeat-ttl-secs',
            suggestion: `pass ${START_SETTINGS.heartbeatTtlSecs.hint}`,
          })
        }
      }
      const {LocalBackendClient} = await import('../discovery/local-client.js')
      if (flags.db !== undefined) {
        this.opened = LocalBackendClient.sqlite(flags.db, Math.round(ttl * 1000))
      } else {
        const url = parseHttpUrl(flags['corrosion-url']!, '--corrosion-url', 'http://127.0.0.1:8090')
        const {CorrosionBackendStore} = await import('../corrosion/index.js')
        const store = CorrosionBackendStore.open({url, token: flags['corrosion-token']})
        this.opened = new LocalBackendClient(store, Math.round(ttl * 1000))
      }
    } else {
      this.opened = this.apiClient(flags)
    }
    return this.opened
  }

  /** The running proxy's API, from --api-url / EDGEPROXY_API_URL and --token. */
  protected apiClient(flags: {'api-url'?: string; token?: string}): ApiBackendClient {
    return new ApiBackendClient(apiUrlOf(flags['api-url'], this.sourceOf('api-url', 'EDGEPROXY_API_URL')), flags.token)
  }

  /** Where the actions print their human view (nothing under --json). */
  protected io(): Io {
    return {log: (text) => this.log(text)}
  }

  protected override async finally(error: Error | undefined): Promise<unknown> {
    await this.opened?.close()
    return super.finally(error)
  }
}

/** The values `backend register` takes (and `backend heartbeat --register` re-registers with). */
export const registerFlags = {
  id: Flags.string({summary: 'Backend id: 1-64 of A-Z a-z 0-9 . _ -', helpValue: 'ID'}),
  app: Flags.string({summary: 'Application the backend serves', helpValue: 'APP'}),
  region: Flags.string({summary: `Region: ${REGIONS.join(', ')}`, options: [...REGIONS]}),
  ip: Flags.string({summary: 'Address the proxy dials (IPv4 or IPv6 literal, usually a WireGuard address)', helpValue: 'IP'}),
  ip6: Flags.string({summary: 'IPv6 address of a dual-stack backend, for DNS AAAA answers beside --ip (the proxy dials --ip)', helpValue: 'IP6'}),
  port: Flags.string({summary: 'TCP port the proxy dials', helpValue: 'PORT'}),
  country: Flags.string({summary: 'ISO 3166 alpha-2 country of the backend, e.g. FR [default: derived from the region]', helpValue: 'CC'}),
  weight: Flags.string({summary: 'Relative capacity, 0-1000 [default: 2]', helpValue: 'N'}),
  'soft-limit': Flags.string({summary: 'Connections at which the backend counts as fully loaded [default: 100]', helpValue: 'N'}),
  'hard-limit': Flags.string({summary: 'Connections per POP never exceeded; 0 = no limit [default: 150]', helpValue: 'N'}),
  'check-type': Flags.string({
    summary: "Active check of this backend: tcp, tls, http, or none (never checked) [default: the proxy's EDGEPROXY_HEALTH_CHECK_TYPE]",
    helpValue: 'TYPE',
    helpGroup: 'HEALTH CHECK',
  }),
  'check-port': Flags.string({
    summary: "Port the active check connects to, when it is not the data port [default: the proxy's EDGEPROXY_HEALTH_CHECK_PORT, else --port]",
    helpValue: 'PORT',
    helpGroup: 'HEALTH CHECK',
  }),
  'check-path': Flags.string({
    summary: "Path of an http check, e.g. /healthz [default: the proxy's EDGEPROXY_HEALTH_CHECK_PATH]",
    helpValue: 'PATH',
    helpGroup: 'HEALTH CHECK',
  }),
}

/** The register flags without a value. */
export function missingRegisterFlags(values: Record<string, unknown>): Array<'id' | 'app' | 'region' | 'ip' | 'port'> {
  return (['id', 'app', 'region', 'ip', 'port'] as const).filter((k) => values[k] === undefined)
}
