// Asks `corrosion bootstrap` for the required values its flags did not give (region, gossip
// address), checking each answer with the same rules as the flags. Only called on a TTY.
import net from 'node:net'

import {REGIONS} from '../../balancer/regions.js'
import {parseHostPort} from '../../net/address.js'
import type {Prompter} from './prompter.js'

export interface BootstrapRequired {
  region?: string
  gossipAddr?: string
}

export async function askBootstrapRequired(prompter: Prompter, given: BootstrapRequired): Promise<Required<BootstrapRequired>> {
  const region = given.region ?? (await prompter.select('Region of this host', REGIONS.map((r) => ({value: r}))))
  const gossipAddr =
    given.gossipAddr ??
    (await prompter.input("Gossip address (this host's WireGuard/private IP:port)", {
      default: '10.50.1.1:4001',
      validate: (v) => {
        try {
          const {host, port} = parseHostPort(v)
          if (net.isIP(host) === 0) return 'use an IP literal: Corrosion rejects hostnames here'
          if (host === '0.0.0.0' || host === '::') return 'other agents gossip back to this address: use a specific IP'
          return port === 0 ? 'use a port 1-65535' : true
        } catch (error) {
          return (error as Error).message
        }
      },
    }))
  return {region, gossipAddr}
}
