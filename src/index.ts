// The engine's public face: commands import from here (and from src/cli), never from deeper files.
export {Engine, type EngineOptions, type ShutdownResult} from './engine.js'
export {resolveStartConfig, START_SETTINGS, type StartConfig} from './config/start-config.js'
export {createLogger, type Logger, type LogFormat} from './log/logger.js'
export * from './errors.js'
export {VERSION} from './version.js'
export type {Backend, BackendState} from './balancer/backend.js'
export {backendState} from './balancer/backend.js'
export {backendsTableDdl, BACKEND_COLUMNS} from './store/schema.js'
export {REGIONS, type Region} from './balancer/regions.js'
export {BACKEND_STATES} from './discovery/validation.js'
export type {BackendJson} from './discovery/backend-json.js'
export {
  ApiBackendClient,
  DEFAULT_API_URL,
  LocalBackendClient,
  BackendNotFoundError,
  type BackendClient,
  type CheckNowResult,
  type RegisterOutcome,
  type RouteExplanation,
} from './discovery/backend-client.js'
