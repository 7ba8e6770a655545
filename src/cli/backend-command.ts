// The base of every `edgeproxy backend …` and `route …` command: where to send operations (a
// running proxy's API, or a SQLite routing store with --db) and how to reach it.
import {Flags} from '@oclif/core'

import {ApiBackendClient, DEFAULT_API_URL, LocalBackendClient, type BackendClient} from '../discovery/backend-client.js'
import {numberParser} from '../config/settings.js'
import {ConfigError} from '../errors.js'
import {BaseCommand} from './base-command.js'

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

export abstract class BackendCommand extends BaseCommand {
  private opened?: BackendClient

  /** The client for the parsed connection flags; closed when the command finishes. */
  protected async client(flags: {
    'api-url'?: string
    token?: string
    db?: string
    'corrosion-url'?: string
    'corrosion-token'?: string
    'heartbeat-ttl-secs'?: string
  }): Promise<BackendClient> {
    if (flags.db !== undefined || flags['corrosion-url'] !== undefined) {
      let ttl = 60
      if (flags['heartbeat-ttl-secs'] !== undefined) {
        try {
          ttl = numberParser({min: 0.1, unit: 'seconds'})(flags['heartbeat-ttl-secs'])
        } catch (error) {
          throw new ConfigError(`invalid --heartbeat-ttl-secs ${JSON.stringify(flags['heartbeat-ttl-secs'])}: ${(error as Error).message}`, {
            field: '--heartbeat-ttl-secs',
            suggestion: 'pass a number of seconds such as 60',
          })
        }
      }
      if (flags.db !== undefined) {
        this.opened = LocalBackendClient.sqlite(flags.db, Math.round(ttl * 1000))
      } else {
        const {CorrosionBackendStore} = await import('../corrosion/index.js')
        const store = CorrosionBackendStore.open({url: flags['corrosion-url']!, token: flags['corrosion-token']})
        this.opened = new LocalBackendClient(store, Math.round(ttl * 1000))
      }
    } else {
      this.opened = new ApiBackendClient(flags['api-url'] ?? DEFAULT_API_URL, flags.token)
    }
    return this.opened
  }

  protected override async finally(error: Error | undefined): Promise<unknown> {
    await this.opened?.close()
    return super.finally(error)
  }
}
