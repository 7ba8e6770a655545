// A Backend value for pure tests (selection, router), with every field set and overrides applied.
import type {Backend} from '../../src/balancer/backend.js'

export function makeBackend(id: string, extra: Partial<Backend> = {}): Backend {
  return {
    id,
    app: 'web',
    region: 'sa',
    country: 'BR',
    host: '10.0.0.1',
    port: 9000,
    isHealthy: true,
    isDraining: false,
    weight: 2,
    softLimit: 100,
    hardLimit: 150,
    leaseExpiresAtMs: 0,
    heartbeatAtMs: 0,
    registeredAtMs: 0,
    updatedAtMs: 0,
    checkType: '',
    checkPort: 0,
    checkPath: '',
    ...extra,
  }
}
